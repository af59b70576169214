// Checks, against KEDA's own code, the Kafka-scaler behaviour docs/keda-kafka-scaler.md states
// beyond KEDA's tests. Not part of kos's build: tests/bench/keda_scaler_facts.sh copies this file
// into a copy of github.com/kedacore/keda/v2 (package scalers) and runs it there, reusing the
// MockClusterAdmin and kafkaOffsetTestClient of kafka_scaler_test.go.
package scalers

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/go-logr/logr"
)

const kosTopic = "t"

// kosScaler is a scaler over one topic whose partitions have log end offsets END and committed
// offsets COMMITTED (-1 = none), talking to a sarama mock broker for ListOffsets.
func kosScaler(t *testing.T, meta kafkaMetadata, end, committed []int64) *kafkaScaler {
	t.Helper()
	server := sarama.NewMockBroker(t, 0)
	t.Cleanup(server.Close)
	latestResp := sarama.NewMockOffsetResponse(t)
	ids := make([]int32, len(end))
	blocks := map[int32]*sarama.OffsetFetchResponseBlock{}
	for p := range end {
		ids[p] = int32(p)
		latestResp.SetOffset(kosTopic, int32(p), sarama.OffsetNewest, end[p])
		blocks[int32(p)] = &sarama.OffsetFetchResponseBlock{Offset: committed[p]}
	}
	server.SetHandlerByMap(map[string]sarama.MockResponse{"OffsetRequest": latestResp})
	config := sarama.NewConfig()
	config.Version = sarama.V0_10_1_0
	config.ApiVersionsRequest = false
	config.Net.ReadTimeout = 5 * time.Second
	broker := sarama.NewBroker(server.Addr())
	if err := broker.Open(config); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = broker.Close() })
	meta.Topic, meta.ConsumerGroup = kosTopic, "g"
	if meta.OffsetResetPolicy == "" {
		meta.OffsetResetPolicy = latest
	}
	return &kafkaScaler{
		metadata: meta,
		client:   &kafkaOffsetTestClient{config: config, broker: broker},
		admin: &MockClusterAdmin{partitionIds: ids, consumerOffsets: &sarama.OffsetFetchResponse{
			Blocks: map[string]map[int32]*sarama.OffsetFetchResponseBlock{kosTopic: blocks}}},
		logger:          logr.Discard(),
		previousOffsets: map[string]map[int32]int64{},
	}
}

func kosValue(t *testing.T, s *kafkaScaler) (int64, bool) {
	t.Helper()
	m, active, err := s.GetMetricsAndActivity(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	return m[0].Value.MilliValue() / 1000, active
}

// 8 partitions, lagThreshold 100, default allowIdleConsumers=false: the cap compares
// floor(lag / threshold) with the partition count, so 899 passes uncapped (the HPA asks
// ceil(8.99) = 9 replicas) while 900 is capped to 800.
func TestKosFactCapIntegerDivision(t *testing.T) {
	for _, c := range []struct{ perPartition, extra, want int64 }{
		{100, 0, 800},  // exactly P*T
		{112, 3, 899},  // 8*112+3 = 899: not capped
		{112, 4, 800},  // 900: capped
		{1000, 0, 800}, // far above: capped
	} {
		end := make([]int64, 8)
		committed := make([]int64, 8)
		for p := range end {
			end[p] = 10000
			committed[p] = end[p] - c.perPartition
		}
		committed[0] -= c.extra
		got, _ := kosValue(t, kosScaler(t, kafkaMetadata{LagThreshold: 100}, end, committed))
		if got != c.want {
			t.Errorf("lag %d: value %d, want %d", 8*c.perPartition+c.extra, got, c.want)
		}
	}
}

// A committed offset beyond the end gives a negative partition lag that is summed.
func TestKosFactNegativeLagSummed(t *testing.T) {
	got, _ := kosValue(t, kosScaler(t, kafkaMetadata{LagThreshold: 100, AllowIdleConsumers: true},
		[]int64{100, 100}, []int64{150, 20}))
	if got != 30 { // -50 + 80
		t.Errorf("value %d, want 30", got)
	}
	got, _ = kosValue(t, kosScaler(t, kafkaMetadata{LagThreshold: 100, AllowIdleConsumers: true},
		[]int64{100, 100}, []int64{190, 20}))
	if got != 0 { // -90 + 80 = -10, clamped only as a total
		t.Errorf("value %d, want 0", got)
	}
}

// excludePersistentLag: the second query with an unchanged committed offset drops the lag from
// the value but keeps the scaler active; a rebuilt scaler (new previousOffsets) counts it again.
func TestKosFactPersistentLagIsBetweenQueries(t *testing.T) {
	s := kosScaler(t, kafkaMetadata{LagThreshold: 10, ExcludePersistentLag: true, AllowIdleConsumers: true},
		[]int64{100}, []int64{40})
	if v, a := kosValue(t, s); v != 60 || !a {
		t.Fatalf("first query: %d %v, want 60 true", v, a)
	}
	if v, a := kosValue(t, s); v != 0 || !a {
		t.Fatalf("second query, offset unchanged: %d %v, want 0 true", v, a)
	}
	s.previousOffsets = map[string]map[int32]int64{} // what refreshScaler's new scaler starts with
	if v, _ := kosValue(t, s); v != 60 {
		t.Fatalf("after a rebuild: %d, want 60", v)
	}
}

// No committed offset under the default policy (latest): 1 per partition.
func TestKosFactInvalidOffsetLatestIsOne(t *testing.T) {
	if v, a := kosValue(t, kosScaler(t, kafkaMetadata{LagThreshold: 10},
		[]int64{500, 500, 500}, []int64{-1, -1, -1})); v != 3 || !a {
		t.Errorf("value %d active %v, want 3 true", v, a)
	}
}

// limitToPartitionsWithLag: the bound is the partitions with lag > 0 after the persistent
// exclusion; with none left, the value is 0 even though the lag is large.
func TestKosFactLimitToPartitionsWithLag(t *testing.T) {
	s := kosScaler(t, kafkaMetadata{LagThreshold: 10, LimitToPartitionsWithLag: true, ExcludePersistentLag: true},
		[]int64{1000, 1000, 1000, 1000}, []int64{500, 1000, 1000, 1000})
	if v, _ := kosValue(t, s); v != 10 { // 500 lag on 1 partition: capped to 1*10
		t.Fatalf("value %d, want 10", v)
	}
	if v, a := kosValue(t, s); v != 0 || !a { // same offsets: persistent, bound 0
		t.Fatalf("second query %d %v, want 0 true", v, a)
	}
}

// ensureEvenDistributionOfPartitions: lag 0 still serves one replica's worth (threshold).
func TestKosFactEvenDistributionFloorIsThreshold(t *testing.T) {
	if v, a := kosValue(t, kosScaler(t, kafkaMetadata{LagThreshold: 10, EnsureEvenDistributionOfPartitions: true},
		[]int64{100, 100, 100, 100}, []int64{100, 100, 100, 100})); v != 10 || a {
		t.Errorf("value %d active %v, want 10 false", v, a)
	}
}
