package kos.ref;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The topology on TopologyTestDriver with statestore.cache.max.bytes=0, so every session update is
 * one output record (the app's default cache coalesces updates per commit instead).
 */
class RefTopologyTest {
    static final String X_MISSED = "e3001f00d9b5";
    static final String O_CRIT = "c3ff8d4f14ffc3d9b5";
    static final String O_DIRECT = "c3ff8ab13000e9c5";
    static final String H_X_MISSED = "{\"impact\":0,\"key\":\"X\",\"doubleKey\":null,\"direction\":null,\"impactType\":\"Missed\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}";
    static final String H_O_CRIT = "{\"impact\":20,\"key\":\"O\",\"doubleKey\":\"O\",\"direction\":\"LEFT\",\"impactType\":\"Critical\",\"level\":\"NewBie\",\"game\":\"NeoBlood\"}";
    static final String H_O_DIRECT = "{\"impact\":48,\"key\":\"O\",\"doubleKey\":null,\"direction\":\"UP\",\"impactType\":\"Direct\",\"level\":\"Inter\",\"game\":\"HowlingBlood\"}";

    @TempDir
    Path tmp;

    TopologyTestDriver driver;
    TestInputTopic<String, String> rq;
    TestInputTopic<String, String> rs;
    TestOutputTopic<String, String> out;
    RefTopology.Counters counters;

    void start(long graceMs) throws Exception {
        RefTopology.Options o = new RefTopology.Options();
        o.graceMs = graceMs;
        counters = new RefTopology.Counters();
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "kos-ref-test");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createDirectories(tmp.resolve("state")).toString());
        p.put(StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, LogAndContinueExceptionHandler.class);
        driver = new TopologyTestDriver(RefTopology.build(o, counters), p);
        StringSerializer s = new StringSerializer();
        rq = driver.createInputTopic(o.rqTopic, s, s);
        rs = driver.createInputTopic(o.rsTopic, s, s);
        out = driver.createOutputTopic(o.outTopic, new StringDeserializer(), new StringDeserializer());
    }

    @AfterEach
    void close() {
        if (driver != null) driver.close();
    }

    static String key(long ts, String machine) {
        return "{\"ts\":" + ts + ",\"machine\":\"" + machine + "\",\"zone\":\"EU\"}";
    }

    static String body(boolean approval, String... hex) {
        StringBuilder sb = new StringBuilder("{\"approval\":").append(approval).append(",\"bytes\":[");
        for (int i = 0; i < hex.length; i++) sb.append(i > 0 ? "," : "").append('"').append(hex[i]).append('"');
        return sb.append("]}").toString();
    }

    static String session(String... hits) {
        return "{\"hits\":[" + String.join(",", hits) + "]}";
    }

    void pipe(TestInputTopic<String, String> t, String k, String v, long ts) {
        t.pipeInput(k, v, Instant.ofEpochMilli(ts));
    }

    /** One request/response pair with the given record timestamps, piped in the order given. */
    List<KeyValue<String, String>> pair(String k, long rqTs, long rsTs, boolean responseFirst) {
        if (responseFirst) {
            pipe(rs, k, body(true, O_CRIT), rsTs);
            pipe(rq, k, body(false, O_CRIT), rqTs);
        } else {
            pipe(rq, k, body(false, O_CRIT), rqTs);
            pipe(rs, k, body(true, O_CRIT), rsTs);
        }
        return out.readKeyValuesToList();
    }

    @Test
    void joinsWithinWindowInEitherOrder() throws Exception {
        start(0);
        String k1 = key(1000, "000001");
        assertEquals(List.of(KeyValue.pair(k1, session(H_O_CRIT))), pair(k1, 1000, 2500, false));
        String k2 = key(1000, "000002");
        assertEquals(List.of(KeyValue.pair(k2, session(H_O_CRIT))), pair(k2, 1000, 1000, true));
        String k3 = key(1000, "000003");
        assertEquals(List.of(KeyValue.pair(k3, session(H_O_CRIT))), pair(k3, 2000, 500, true));
        assertEquals(6, counters.in.sum());
        assertEquals(3, counters.joined.sum());
        assertEquals(3, counters.out.sum());
    }

    @Test
    void exactlyThreeSecondsJoins() throws Exception {
        start(0);
        // response 3 s after the request, and 3 s before it; each in both arrival orders
        long[][] cases = {{10_000, 13_000}, {10_000, 7_000}};
        int m = 0;
        for (long[] c : cases)
            for (boolean responseFirst : new boolean[] {false, true}) {
                // each case 100 s after the previous one, so that no earlier record makes these late
                long base = 100_000L * ++m;
                String k = key(base + c[0], String.format("%06d", m));
                assertEquals(1, pair(k, base + c[0], base + c[1], responseFirst).size(), "rq " + c[0] + " rs " + c[1] + " responseFirst " + responseFirst);
            }
    }

    @Test
    void threeSecondsAndOneMillisecondDoesNotJoin() throws Exception {
        start(0);
        long[][] cases = {{10_000, 13_001}, {10_000, 6_999}};
        int m = 0;
        for (long[] c : cases)
            for (boolean responseFirst : new boolean[] {false, true}) {
                long base = 100_000L * ++m;
                String k = key(base + c[0], String.format("%06d", m));
                assertTrue(pair(k, base + c[0], base + c[1], responseFirst).isEmpty(), "rq " + c[0] + " rs " + c[1] + " responseFirst " + responseFirst);
            }
        assertEquals(0, counters.joined.sum());
    }

    @Test
    void joinerKeepsTheRequestBodyAndTheKeyBytes() throws Exception {
        start(0);
        // unusual but valid key bytes: spacing and field order are kept as they are, never re-encoded
        String k = "{ \"zone\":\"US\", \"machine\":\"000042\", \"ts\":5000 }";
        pipe(rq, k, body(false, X_MISSED), 5000);
        pipe(rs, k, body(true, O_DIRECT), 5000);
        assertEquals(List.of(KeyValue.pair(k, session(H_X_MISSED))), out.readKeyValuesToList());
        // a key that differs in one byte does not join
        pipe(rs, k.replace(" }", "}"), body(true, O_DIRECT), 5000);
        assertTrue(out.isEmpty());
    }

    @Test
    void undecodableHitsAreDroppedAndEveryHitIsOneUpdate() throws Exception {
        start(0);
        String k = key(1000, "000007");
        pipe(rq, k, body(false, X_MISSED, "zz", "", "c3ff8d4f14ffc3d9b5ff", "E3001F00D9B", O_CRIT, O_DIRECT.toUpperCase()), 1000);
        pipe(rs, k, body(true), 1000);
        // with the cache off, each decoded hit is one aggregate update, and each update one record
        assertEquals(List.of(
                KeyValue.pair(k, session(H_X_MISSED)),
                KeyValue.pair(k, session(H_X_MISSED, H_O_CRIT)),
                KeyValue.pair(k, session(H_X_MISSED, H_O_CRIT, H_O_DIRECT))), out.readKeyValuesToList());
        assertEquals(3, counters.hits.sum());
        assertEquals(4, counters.badHits.sum());
        // a body with no decodable hit joins but changes nothing and emits nothing
        String k2 = key(1000, "000008");
        pipe(rq, k2, body(false, "nothex"), 1000);
        pipe(rs, k2, body(true), 1000);
        assertTrue(out.isEmpty());
        assertEquals(2, counters.joined.sum());
    }

    @Test
    void sessionAccumulatesOverEveryJoinedPairOfAKey() throws Exception {
        start(0);
        String k = key(1000, "000009");
        pipe(rq, k, body(false, X_MISSED), 1000);          // rq1
        pipe(rs, k, body(true, X_MISSED), 1000);           // rs1: pair (rq1, rs1)
        assertEquals(List.of(KeyValue.pair(k, session(H_X_MISSED))), out.readKeyValuesToList());
        pipe(rq, k, body(false, O_CRIT), 1500);            // rq2: pair (rq2, rs1)
        assertEquals(List.of(KeyValue.pair(k, session(H_X_MISSED, H_O_CRIT))), out.readKeyValuesToList());
        pipe(rs, k, body(true), 1600);                     // rs2: pairs (rq1, rs2) and (rq2, rs2)
        List<KeyValue<String, String>> got = out.readKeyValuesToList();
        assertEquals(2, got.size());
        assertEquals(KeyValue.pair(k, session(H_X_MISSED, H_O_CRIT, H_X_MISSED, H_O_CRIT)), got.get(1));
        assertEquals(4, counters.joined.sum());
    }

    @Test
    void invalidBodiesAreDroppedAndProcessingGoesOn() throws Exception {
        start(0);
        String k = key(1000, "000010");
        pipe(rq, k, "not json", 1000);
        pipe(rq, k, "{\"approval\":false}", 1000);
        pipe(rq, k, "{\"approval\":1,\"bytes\":[]}", 1000);
        pipe(rq, k, "{\"approval\":false,\"bytes\":[1]}", 1000);
        pipe(rq, k, "{\"approval\":false,\"bytes\":[],\"bytes\":[]}", 1000);
        pipe(rs, k, body(true, O_CRIT), 1000);
        assertTrue(out.isEmpty());
        pipe(rq, k, "{\"extra\":[1,2],\"bytes\":[\"" + O_CRIT + "\"],\"approval\":null}", 1000);
        assertEquals(List.of(KeyValue.pair(k, session(H_O_CRIT))), out.readKeyValuesToList());
        assertEquals(7, counters.in.sum());
    }

    /**
     * Out-of-order input: each join side's window store keeps records for 2*window + grace (6 s + grace)
     * behind the newest timestamp that side has seen in the task; older records are neither stored nor
     * found. With grace 0 a request 99 s older than the newest request is already gone.
     */
    @Test
    void lateRecordsAreDroppedWithoutGrace() throws Exception {
        start(0);
        pipe(rq, key(100_000, "000001"), body(false, O_CRIT), 100_000);
        String k = key(1000, "000002");
        pipe(rq, k, body(false, O_CRIT), 1000);
        pipe(rs, k, body(true, O_CRIT), 1000);
        assertTrue(out.isEmpty());
    }

    /**
     * The subtle one: a pair 3 s apart still misses when the side that arrives first is more than
     * 2*window - 1 ms (5999 ms with grace 0) behind the newest timestamp its own side has seen.
     * Here the response store has seen 13000, so a response at 7000 is not found by a request at
     * 10000 although |10000 - 7000| = 3000.
     */
    @Test
    void aRecordBehindItsSidesStreamTimeByMoreThanTheRetentionIsNotFound() throws Exception {
        start(0);
        pipe(rs, key(13_000, "000001"), body(true, O_CRIT), 13_000);
        String k = key(10_000, "000002");
        assertTrue(pair(k, 10_000, 7_000, true).isEmpty());
        String k2 = key(10_000, "000003");
        assertEquals(1, pair(k2, 10_000, 7_001, true).size());
    }

    @Test
    void lateRecordsJoinWithinGrace() throws Exception {
        start(200_000);
        pipe(rq, key(100_000, "000001"), body(false, O_CRIT), 100_000);
        String k = key(1000, "000002");
        pipe(rq, k, body(false, O_CRIT), 1000);
        pipe(rs, k, body(true, O_CRIT), 1000);
        assertEquals(List.of(KeyValue.pair(k, session(H_O_CRIT))), out.readKeyValuesToList());
    }
}
