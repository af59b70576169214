"""kos-adapter's selector-carried scaling parameters (adapter/scaling.h) against a real Kafka
broker: a committed offset that retention deleted (kafka-delete-records moves the log start past
it) counts from the log start; offsetResetPolicy decides an uncommitted partition's lag the way
KEDA does and never as its whole log; topicRegex, topic weights and the partition cap over real
offsets; bad parameter values get a 400 naming the key."""

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"


def tk(kafka, *args):
    return kh.testkit("-b", kafka.bootstrap, *args)


def b64url(regex):
    return base64.urlsafe_b64encode(regex.encode()).decode().rstrip("=")


def delete_records(kafka, tmp, topic, partition, offset):
    f = tmp / f"delete-{topic}-{partition}.json"
    f.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": partition, "offset": offset}]}))
    kh.kafka_sh("tool", "org.apache.kafka.tools.DeleteRecordsCommand", "--bootstrap-server",
                kafka.bootstrap, "--offset-json-file", str(f))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaling")
    with kh.KafkaBroker(tmp / "kafka") as kafka:
        # ret: 100 records per partition. gR commits ret:0 at 10 and never commits ret:1, which
        # its member holds. orders-eu/orders-us/audit: the regex and weight cases (group gW).
        tk(kafka, "create-topic", "ret", 2)
        for p in (0, 1):
            tk(kafka, "produce", "ret", p, 100)
        tk(kafka, "commit", "gR", "ret:0=10")
        for t, n in (("orders-eu", 30), ("orders-us", 50), ("audit", 1000)):
            tk(kafka, "create-topic", t, 1)
            tk(kafka, "produce", t, 0, n)
        tk(kafka, "commit", "gW", "orders-eu:0=0", "orders-us:0=0", "audit:0=0")
        member = kh.GroupMember(kafka.bootstrap, "gR", "pod-r", ["ret"])
        member.wait_assigned(min_partitions=2)
        certs = ka.make_certs(tmp / "certs")
        with ka.Adapter(certs, kafka.bootstrap,
                        args=["--refresh-interval", "300ms", "--max-staleness", "3s"]) as ad:
            yield {"kafka": kafka, "ad": ad, "tmp": tmp}
        member.stop()


def value(ad, selector):
    st, body = ad.get(f"{EXTERNAL}/namespaces/default/kafka_consumergroup_lag"
                      f"?labelSelector={selector}")
    assert st == 200, body
    assert len(body["items"]) == 1, body
    return int(body["items"][0]["value"])


def test_committed_offset_below_the_log_start_counts_from_the_log_start(env):
    kafka, ad = env["kafka"], env["ad"]
    # before: ret:0 90 (100 - 10), ret:1 uncommitted, earliest (the default): 100 from offset 0
    kh.wait_until(lambda: value(ad, "group%3DgR") == 190, timeout=20, what="lag 190 served")
    delete_records(kafka, env["tmp"], "ret", 0, 50)  # log start 50 > committed 10
    delete_records(kafka, env["tmp"], "ret", 1, 30)
    # Kafka's own tool still counts from the commit (LAG = end - committed = 90) ...
    rows = {r["partition"]: r for r in kh.cgc_describe_group(kafka.bootstrap, "gR")}
    assert rows[0]["current_offset"] == 10 and rows[0]["lag"] == 90, rows
    # ... but 40 of those 90 records are gone: a consumer reads 50 of ret:0, 70 of ret:1
    kh.wait_until(lambda: value(ad, "group%3DgR") == 50 + 70, timeout=20,
                  what="lag counted from the log starts (120)")


def test_offset_reset_policy_for_an_uncommitted_partition(env):
    ad = env["ad"]
    kh.wait_until(lambda: value(ad, "group%3DgR") == 120, timeout=20, what="retention seen")
    # latest (KEDA): 1 for the uncommitted partition, so one consumer stays but its whole log
    # (70 retained, 100 ever written) never drives the scale (KEDA issue 2612)
    assert value(ad, "group%3DgR,offsetResetPolicy%3Dlatest") == 50 + 1
    assert value(ad, "group%3DgR,offsetResetPolicy%3Dlatest,"
                     "scaleToZeroOnInvalidOffset%3Dtrue") == 50
    # earliest: what is retained (end - log start, KEDA issue 7936), not the end offset
    assert value(ad, "group%3DgR,offsetResetPolicy%3Dearliest") == 50 + 70
    assert value(ad, "group%3DgR,offsetResetPolicy%3Dearliest,"
                     "scaleToZeroOnInvalidOffset%3Dtrue") == 50


def test_topic_regex_weights_and_cap(env):
    ad = env["ad"]
    kh.wait_until(lambda: value(ad, "group%3DgW") == 1080, timeout=20, what="gW served")
    assert value(ad, f"group%3DgW,topicRegex%3D{b64url('orders-.*')}") == 80
    assert value(ad, f"group%3DgW,topicRegex%3D{b64url('orders-(eu|xx)')}") == 30
    # a regex matching none of the group's topics (whole names only): 0, like a group= whose
    # group has no partitions yet
    assert value(ad, f"group%3DgW,topicRegex%3D{b64url('rders-.*')}") == 0
    # weights: audit counts a tenth, orders-us double
    assert value(ad, "group%3DgW,weight.kos.io%2Faudit%3D0.1,"
                     "weight.kos.io%2Forders-us%3D2") == 30 + 100 + 100
    # cap: 3 partitions x 100
    assert value(ad, "group%3DgW,lagThreshold%3D100") == 300
    assert value(ad, f"group%3DgW,lagThreshold%3D20,topicRegex%3D{b64url('orders-.*')}") == 40


@pytest.mark.parametrize("selector,message", [
    ("group%3DgW,lagThreshold%3D0", "lagThreshold=0: must be a positive integer"),
    ("group%3DgW,lagThreshold%3D99999999999999999999", "must be a positive integer"),
    ("group%3DgW,lagThreshold%3Dten", "lagThreshold=ten"),
    ("group%3DgW,lagThreshold%3D1,lagThreshold%3D2", "lagThreshold is given twice"),
    ("group%3DgW,lagThreshold%3D-1", "invalid label value"),
    ("group%3DgW,limitToPartitionsWithLag%3Dtrue", "needs lagThreshold"),
    ("group%3DgW,offsetResetPolicy%3Dsometimes", "must be latest or earliest"),
    ("group%3DgW,topicRegex%3D" + b64url("orders-("), "not a POSIX extended regular expression"),
    ("group%3DgW,topicRegex%3D" + b64url("(a{1,9}){1,9}"), "interval expressions"),
    ("group%3DgW,topicRegex%3Dnot.base64", "not base64url"),
    ("group%3DgW,weight.kos.io%2Faudit%3D1.2345", "at most 3 decimals"),
])
def test_bad_parameters_are_a_400(env, selector, message):
    ad = env["ad"]
    st, body = ad.get(f"{EXTERNAL}/namespaces/default/kafka_consumergroup_lag"
                      f"?labelSelector={selector}")
    assert st == 400, body
    assert body["reason"] == "BadRequest" and message in body["message"], body
    # and the adapter still answers
    assert value(ad, "group%3DgW") == 1080
