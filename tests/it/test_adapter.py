"""kos-adapter against a real Kafka broker: every served value equals what Kafka's own
ConsumerGroupCommand reports; lag seconds match the records' timestamps; a stopped broker
gives 503 past the staleness bound and values again once it is back; TLS client
certificates and front-proxy identities are accepted or refused; kubectl get --raw and a
direct HTTPS client see the same JSON; bad input gets a Status, never a crash."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402

CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"
CUSTOM1 = "/apis/custom.metrics.k8s.io/v1beta1"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
HOUR_MS = 3600 * 1000

MAPPING = """# namespace resource name group [topics]
default deployments.apps processor gA
default deployments.apps only-t1 gA t1
default statefulsets.apps worker gB
default pods * gB
default deployments.apps empty gEmpty
*       namespaces * gA
"""


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return ka.make_certs(tmp_path_factory.mktemp("certs"))


def tk(kafka, *args):
    return kh.testkit("-b", kafka.bootstrap, *args)


def produce(kafka, topic, partition, count, ts_ms=None):
    args = ["produce", topic, partition, count]
    if ts_ms is not None:
        args += ["--ts-ms", ts_ms]
    tk(kafka, *args)


@pytest.fixture(scope="module")
def scenario(kafka):
    """Groups and topics covering the cases the issue names. Returns facts the tests use."""
    now = int(time.time() * 1000)
    tk(kafka, "create-topic", "t1", 3)
    tk(kafka, "create-topic", "t2", 2)
    tk(kafka, "create-topic", "t3", 1)
    # t1: 30/20/25 records, timestamps one hour, 30 min and now in the past per partition.
    produce(kafka, "t1", 0, 30, now - HOUR_MS)
    produce(kafka, "t1", 1, 20, now - HOUR_MS // 2)
    produce(kafka, "t1", 2, 25, now)
    produce(kafka, "t2", 0, 8, now - 120_000)
    produce(kafka, "t2", 1, 12, now - 60_000)
    produce(kafka, "t3", 0, 5)
    # gA: committed everywhere; t1:2 fully consumed.
    tk(kafka, "commit", "gA", "t1:0=10", "t1:1=0", "t1:2=25", "t2:0=5")
    # gB: t2:1 committed, t2:0 never committed but held by a member (policy earliest).
    tk(kafka, "commit", "gB", "t2:1=4")
    member = kh.GroupMember(kafka.bootstrap, "gB", "pod-b-1", ["t2"])
    member.wait_assigned(min_partitions=2)
    # gEmpty: a member joined and left without committing: a group with nothing to consume.
    with kh.GroupMember(kafka.bootstrap, "gEmpty", "pod-e", ["t3"]) as m:
        m.wait_assigned()
    # gDel: its only offsets are on t3, which is then deleted.
    tk(kafka, "commit", "gDel", "t3:0=2")
    tk(kafka, "delete-topic", "t3")
    kh.wait_until(lambda: not any(r["topic"] == "t3" for r in kh.cgc_describe_all(kafka.bootstrap)),
                  timeout=60, what="offsets of deleted topic t3 dropped by the coordinator")
    yield {"now": now, "member": member}
    member.stop()


@pytest.fixture(scope="module")
def adapter(kafka, certs, scenario):
    with ka.Adapter(certs, kafka.bootstrap, mapping=MAPPING,
                    args=["--refresh-interval", "300ms", "--max-staleness", "3s"]) as ad:
        yield ad


def ext(ad, metric, selector):
    return ad.get(f"{EXTERNAL}/namespaces/default/{metric}?labelSelector={selector}")


def cgc_truth(kafka):
    """{group: {topic: lag}} from ConsumerGroupCommand; a partition without a committed offset
    (LAG "-") counts from the log start (0 here: no retention), i.e. LOG-END-OFFSET."""
    truth = {}
    for r in kh.cgc_describe_all(kafka.bootstrap):
        lag = r["lag"] if r["current_offset"] is not None else r["log_end_offset"]
        truth.setdefault(r["group"], {}).setdefault(r["topic"], 0)
        truth[r["group"]][r["topic"]] += lag
    return truth


def wait_values_settled(ad, truth):
    def settled():
        for g, topics in truth.items():
            st, body = ext(ad, "kafka_consumergroup_lag", f"group%3D{g}")
            if st != 200 or sum(int(i["value"]) for i in body["items"]) != sum(topics.values()):
                return False
        return True
    kh.wait_until(settled, timeout=20, what="adapter values equal to ConsumerGroupCommand")


def test_every_value_equals_consumer_group_command(kafka, adapter):
    truth = cgc_truth(kafka)
    assert truth["gA"] == {"t1": 20 + 20 + 0, "t2": 3}, truth  # the scenario is what we think
    assert truth["gB"] == {"t2": 8 + 8}, truth
    assert "gEmpty" not in truth and "gDel" not in truth
    wait_values_settled(adapter, truth)
    for g, topics in truth.items():
        for t, lag in topics.items():
            st, body = ext(adapter, "kafka_consumergroup_lag", f"group%3D{g}%2Ctopic%3D{t}")
            assert st == 200, body
            assert [(i["metricLabels"], i["value"]) for i in body["items"]] == [
                ({"group": g, "topic": t}, str(lag))]
    # The same numbers on /metrics.
    st, text = adapter.get("/metrics", raw=True)
    assert st == 200
    for g, topics in truth.items():
        for t, lag in topics.items():
            assert f'kafka_consumergroup_lag{{group="{g}",topic="{t}"}} {lag}\n' in text.decode()


def test_object_metrics_follow_the_mapping(kafka, adapter):
    truth = cgc_truth(kafka)
    wait_values_settled(adapter, truth)
    for base, value_of in ((CUSTOM2, lambda i: i["value"]), (CUSTOM1, lambda i: i["value"])):
        st, body = adapter.get(f"{base}/namespaces/default/deployments.apps/processor/"
                               "kafka_consumergroup_lag")
        assert st == 200, body
        assert body["kind"] == "MetricValueList" and body["apiVersion"].endswith(base.split("/")[-1])
        (item,) = body["items"]
        assert value_of(item) == str(sum(truth["gA"].values()))
        assert item["describedObject"] == {"kind": "Deployment", "namespace": "default",
                                           "name": "processor", "apiVersion": "apps/v1"}
    # topic list in the rule, and topic= narrowing in the selector give the t1 part only
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/deployments.apps/only-t1/"
                           "kafka_consumergroup_lag")
    assert body["items"][0]["value"] == str(truth["gA"]["t1"])
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/deployments.apps/processor/"
                           "kafka_consumergroup_lag?metricLabelSelector=topic%3Dt2")
    assert body["items"][0]["value"] == str(truth["gA"]["t2"])
    assert body["items"][0]["metric"]["selector"] == {"matchLabels": {"topic": "t2"}}
    # group= override on any object; namespace path; statefulset
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/deployments.apps/whatever/"
                           "kafka_consumergroup_lag?metricLabelSelector=group%3DgB")
    assert body["items"][0]["value"] == str(sum(truth["gB"].values()))
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/metrics/kafka_consumergroup_lag")
    assert st == 200 and body["items"][0]["describedObject"]["kind"] == "Namespace"
    assert body["items"][0]["value"] == str(sum(truth["gA"].values()))
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/statefulsets.apps/worker/"
                           "kafka_consumergroup_lag")
    assert body["items"][0]["value"] == str(sum(truth["gB"].values()))
    # A group that exists and has nothing to consume is a real 0.
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/deployments.apps/empty/"
                           "kafka_consumergroup_lag")
    assert st == 200 and body["items"][0]["value"] == "0"
    # The group whose topic was deleted is still listed by Kafka, with no partitions left.
    st, body = ext(adapter, "kafka_consumergroup_lag", "group%3DgDel")
    assert st == 200 and [i["value"] for i in body["items"]] == ["0"]
    # Unmapped objects and unknown groups: 404, never 0.
    st, body = adapter.get(f"{CUSTOM2}/namespaces/other/deployments.apps/processor/"
                           "kafka_consumergroup_lag")
    assert st == 404 and body["kind"] == "Status" and body["code"] == 404
    st, body = ext(adapter, "kafka_consumergroup_lag", "group%3Dnope")
    assert st == 200 and body["items"] == []


def test_pods_metrics_per_consumer(kafka, adapter):
    truth_rows = [r for r in kh.cgc_describe_group(kafka.bootstrap, "gB")]
    assert {r["client_id"] for r in truth_rows} == {"pod-b-1"}
    want = sum(r["lag"] if r["current_offset"] is not None else r["log_end_offset"]
               for r in truth_rows)
    for wildcard in ("%2A", "*"):
        st, body = adapter.get(f"{CUSTOM2}/namespaces/default/pods/{wildcard}/kafka_consumer_lag")
        assert st == 200, body
        assert [(i["describedObject"]["name"], i["value"]) for i in body["items"]] == [
            ("pod-b-1", str(want))]
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/pods/%2A/consumer_lag_t2")
    assert [i["value"] for i in body["items"]] == [str(want)]
    st, body = adapter.get(f"{CUSTOM1}/namespaces/default/pods/pod-b-1/kafka_consumer_lag")
    assert st == 200 and body["items"][0]["metricName"] == "kafka_consumer_lag"
    st, body = adapter.get(f"{CUSTOM2}/namespaces/default/pods/%2A/consumer_lag_nope")
    assert st == 404


def test_lag_seconds_from_record_timestamps(kafka, adapter, scenario):
    # gA's oldest unconsumed record is t1:0 offset 10, produced with ts = now - 1 h.
    def age():
        st, body = ext(adapter, "kafka_consumergroup_lag_seconds", "group%3DgA")
        return (st, body)
    kh.wait_until(lambda: age()[0] == 200, timeout=15, what="lag seconds known")
    st, body = age()
    served_ms = int(body["items"][0]["value"].rstrip("m"))
    truth_ms = int(time.time() * 1000) - (scenario["now"] - HOUR_MS)
    assert abs(served_ms - truth_ms) <= 1000 + 300, (served_ms, truth_ms)
    # per topic: t2:0 offset 5 has ts now - 120 s
    st, body = ext(adapter, "kafka_consumergroup_lag_seconds", "group%3DgA%2Ctopic%3Dt2")
    served_ms = int(body["items"][0]["value"].rstrip("m"))
    truth_ms = int(time.time() * 1000) - (scenario["now"] - 120_000)
    assert abs(served_ms - truth_ms) <= 1300, (served_ms, truth_ms)


def test_freshness_after_a_commit(kafka, adapter):
    tk(kafka, "commit", "gA", "t2:0=8")
    t0 = time.time()
    kh.wait_until(lambda: ext(adapter, "kafka_consumergroup_lag",
                              "group%3DgA%2Ctopic%3Dt2")[1]["items"][0]["value"] == "0",
                  timeout=5, interval=0.05, what="commit visible")
    assert time.time() - t0 < 0.3 + 1.0  # refresh interval + margin on a busy 2-core box


def test_discovery_and_meta_paths(adapter):
    st, body = adapter.get(CUSTOM2)
    names = {r["name"] for r in body["resources"]}
    assert {"pods/kafka_consumer_lag", "pods/consumer_lag_t2",
            "deployments.apps/kafka_consumergroup_lag"} <= names
    st, body = adapter.get(EXTERNAL)
    assert {r["name"] for r in body["resources"]} == {
        "kafka_consumergroup_lag_headroom", "kafka_consumergroup_lag",
        "kafka_consumergroup_lag_seconds", "kafka_consumergroup_produce_rate",
        "kafka_consumergroup_consume_rate", "kafka_consumergroup_time_to_drain_seconds",
        "kafka_consumergroup_stuck_partitions", "kafka_consumergroup_status"}
    assert adapter.get("/apis")[1]["kind"] == "APIGroupList"
    assert adapter.get("/openapi/v2")[1]["swagger"] == "2.0"
    assert adapter.get("/openapi/v3")[1] == {"paths": {}}
    for p in ("/healthz", "/livez", "/readyz"):
        assert adapter.get(p, cert=None, raw=True) == (200, b"ok")


def test_kubectl_get_raw_equals_direct_client(adapter, certs, tmp_path):
    kubeconfig = ka.write_kubeconfig(tmp_path / "kubeconfig", adapter.port, certs)
    for path in (CUSTOM2, EXTERNAL,
                 f"{CUSTOM2}/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag",
                 f"{CUSTOM2}/namespaces/default/pods/*/kafka_consumer_lag",
                 f"{EXTERNAL}/namespaces/default/kafka_consumergroup_lag?labelSelector=group%3DgA"):
        out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw", path],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        st, direct = adapter.get(path)
        via_kubectl = json.loads(out.stdout)
        for doc in (via_kubectl, direct):  # the two may straddle a refresh
            for item in doc.get("items", []):
                item.pop("timestamp")
        assert via_kubectl == direct
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "--raw",
                          f"{CUSTOM2}/namespaces/default/deployments.apps/nope/kafka_consumergroup_lag"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "NotFound" in out.stderr


def test_tls_client_certificates(adapter):
    data = f"{CUSTOM2}/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag"
    assert adapter.get(data)[0] == 200
    for cert in (None, "rogue", "proxy-wrong-cn"):
        for path in (data, CUSTOM2, "/metrics"):
            st, body = adapter.get(path, cert=cert)
            assert st == 401 and body["kind"] == "Status" and body["code"] == 401, (cert, path)
    assert adapter.get("/healthz", cert="rogue", raw=True)[0] == 200
    # Front proxy: identity from headers; without X-Remote-User refused.
    hdrs = [("X-Remote-User", "system:kube-aggregator"), ("X-Remote-Group", "system:masters")]
    assert adapter.get(data, cert="front-proxy-client", headers=hdrs)[0] == 200
    assert adapter.get(data, cert="front-proxy-client")[0] == 401
    # X-Remote-* headers without the proxy certificate count for nothing.
    assert adapter.get(data, cert=None, headers=hdrs)[0] == 401


def test_bad_input_gets_a_status(adapter):
    cases = [
        ("GET", f"{CUSTOM2}/namespaces/default/pods/%zz/kafka_consumer_lag", 400),
        ("GET", f"{CUSTOM2}/namespaces/default/pods/a%2Fb/kafka_consumer_lag", 400),
        ("GET", f"{CUSTOM2}/namespaces/x/foo", 400),
        ("GET", f"{CUSTOM2}/namespaces/default/pods/%2A/kafka_consumer_lag?labelSelector=a+in+%28b", 400),
        ("GET", f"{CUSTOM2}/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag"
                "?metricLabelSelector=%21%21", 400),
        ("GET", "/apis/custom.metrics.k8s.io/v9", 404),
        ("GET", "/nope", 404),
        ("GET", f"{CUSTOM2}/namespaces/default/deployments.apps/processor/no_such_metric", 404),
        ("GET", "/" + "a" * 10000, 414),
        ("POST", CUSTOM2, 405),
        ("DELETE", f"{CUSTOM2}/namespaces/default/pods/%2A/kafka_consumer_lag", 405),
    ]
    for method, path, code in cases:
        st, hdrs, body = adapter.request(method, path, body=b"{}" if method == "POST" else None)
        assert st == code, (method, path[:80], st, body[:200])
        assert hdrs["content-type"] == "application/json"
        doc = json.loads(body)
        assert doc["kind"] == "Status" and doc["status"] == "Failure" and doc["code"] == code
    # A header block beyond the connection's memory is refused by libmicrohttpd itself; the
    # adapter must stay up and keep answering.
    st, _, _ = adapter.request("GET", CUSTOM2, headers=[("X-Big", "x" * 100_000)])
    assert st in (413, 414, 431)
    assert adapter.get(CUSTOM2)[0] == 200


def test_broker_down_503_then_back(kafka, adapter):
    path = f"{CUSTOM2}/namespaces/default/deployments.apps/processor/kafka_consumergroup_lag"
    assert adapter.get(path)[0] == 200
    t0 = time.time()  # the last good refresh is at most one interval (0.3 s) before this
    kafka.stop()
    try:
        kh.wait_until(lambda: adapter.get(path)[0] == 503, timeout=30, interval=0.2,
                      what="503 after the staleness bound")
        took = time.time() - t0
        st, body = adapter.get(path)
        assert body["kind"] == "Status" and body["code"] == 503 and "stale" in body["message"]
        assert 2.5 <= took <= 12, took  # --max-staleness 3s
        assert adapter.get("/readyz", cert=None, raw=True)[0] == 503
        assert adapter.get(CUSTOM2)[0] == 200  # discovery never 503s
    finally:
        kafka.start()
    kh.wait_until(lambda: adapter.get(path)[0] == 200, timeout=60, what="values after restart")
    assert adapter.get("/readyz", cert=None, raw=True)[0] == 200


def test_bad_flags_fail_at_start(certs, kafka):
    base = [ka.adapter_path(), "-b", kafka.bootstrap, "--tls-cert-file",
            str(certs / "serving.crt"), "--tls-private-key-file", str(certs / "serving.key"),
            "--secure-port", "0", "--bind-address", "127.0.0.1"]
    (certs / "bad-mapping.txt").write_text("default deployments.apps\n")
    cases = [
        (base[:3], "--tls-cert-file"),
        (base + ["-X", "no.such.property=1"], "no.such.property"),
        (base + ["-X", "socket.timeout.ms=abc"], "socket.timeout.ms"),
        (base + ["--refresh-interval", "fast"], "--refresh-interval"),
        (base + ["--max-staleness", "-1s"], "--max-staleness"),
        (base + ["--secure-port", "70000"], "--secure-port"),
        (base + ["--no-commit-policy", "oldest"], "--no-commit-policy"),
        (base + ["--mapping-file", "/nonexistent"], "/nonexistent"),
        (base + ["--mapping-file", str(certs / "bad-mapping.txt")], "bad-mapping.txt:1"),
        (base + ["--client-ca-file", str(certs / "serving.key")], "serving.key"),
        (base[:4] + [str(certs / "serving.key")] + base[5:], "--tls-cert-file"),
        (base + ["--bind-address", "nowhere"], "--bind-address"),
        (base + ["stray"], "stray"),
        (base + ["--stuck-refreshes", "0"], "--stuck-refreshes"),
        (base + ["--rate-window", "10ms"], "--rate-window"),
        (base + ["--time-to-drain-max", "forever"], "--time-to-drain-max"),
        (base + ["--status-window", "1"], "--status-window"),
        (base + ["--status-min-distance", "-1s"], "--status-min-distance"),
        ([ka.adapter_path(), "--tls-cert-file", "x", "--tls-private-key-file", "y"], "brokers"),
    ]
    for cmd, needle in cases:
        env = {"PATH": "/usr/bin:/bin"}
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, env=env)
        assert out.returncode == 2, (cmd, out.returncode, out.stderr)
        assert needle in out.stderr, (needle, out.stderr)


def test_read_committed_uses_the_last_stable_offset(kafka, certs, tmp_path):
    """An open transaction holds the last stable offset back: --read-committed counts lag to
    the LSO (what a read_committed consumer can reach), the default to the high watermark
    (what kafka-consumer-groups reports)."""
    tk(kafka, "create-topic", "txn", 1)
    produce(kafka, "txn", 0, 10)
    tk(kafka, "commit", "gTxn", "txn:0=4")
    txn = subprocess.Popen([kh.testkit_path(), "-b", kafka.bootstrap, "txn-open", "txn", "0", "7"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = txn.stdout.readline()
        assert line.startswith("open "), (line, txn.stderr.read() if txn.poll() is not None else "")
        hwm_lag = [r["lag"] for r in kh.cgc_describe_group(kafka.bootstrap, "gTxn")]
        assert hwm_lag == [6 + 7]  # the tool reads the high watermark
        path = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag"
                "?labelSelector=group%3DgTxn")
        with ka.Adapter(certs, kafka.bootstrap, workdir=tmp_path,
                        args=["--refresh-interval", "300ms"]) as plain, \
             ka.Adapter(certs, kafka.bootstrap, workdir=tmp_path,
                        args=["--refresh-interval", "300ms", "--read-committed"]) as rc:
            kh.wait_until(lambda: plain.get(path)[1]["items"][0]["value"] == "13", timeout=10,
                          what="high-watermark lag")
            kh.wait_until(lambda: rc.get(path)[1]["items"][0]["value"] == "6", timeout=10,
                          what="last-stable-offset lag")
    finally:
        txn.terminate()
        txn.wait(timeout=30)
    assert txn.returncode == 0, txn.stderr.read()


def test_co_partitioned_task_attribution(kafka, certs, tmp_path):
    """A member that holds partition p of one input (kos-processor subscribes to its requests
    topic and assigns the responses partition p by hand) carries the lag of partition p of the
    group's other topic in its pod metric, as long as exactly one member holds p."""
    tk(kafka, "create-topic", "co-rq", 2)
    tk(kafka, "create-topic", "co-rs", 2)
    for t in ("co-rq", "co-rs"):
        for p in (0, 1):
            produce(kafka, t, p, 10)
    tk(kafka, "commit", "gCo", "co-rq:0=10", "co-rq:1=10", "co-rs:0=3", "co-rs:1=6")
    with kh.GroupMember(kafka.bootstrap, "gCo", "pod-co", ["co-rq"]) as m:
        m.wait_assigned(min_partitions=2)
        with ka.Adapter(certs, kafka.bootstrap, workdir=tmp_path,
                        args=["--refresh-interval", "300ms"]) as ad:
            path = ("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/"
                    "consumer_lag_co_rs?metricLabelSelector=group%3DgCo")
            kh.wait_until(lambda: [(i["describedObject"]["name"], i["value"])
                                   for i in ad.get(path)[1]["items"]] == [("pod-co", "11")],
                          timeout=15, what="co-rs lag (7 + 4) attributed to the co-rq owner")
