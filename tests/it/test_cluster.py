"""A 3-node KRaft cluster on loopback (kafka.sh cluster-start, kos_harness.KafkaCluster), and
kos-adapter on it when a partition leader stops:

  * the harness itself: three brokers up, a topic replicated three times; one node stopped, the
    others still take and serve records and group offsets; the node restarted at its address
    rejoins and catches up;
  * leader stop: a group lags on partitions led by the node that is also its group coordinator;
    that node stops. The adapter's served lag (the group's, and its member's pods metric) stays
    correct (never 0, never another number, never from a snapshot older than --max-staleness;
    503 in between is the contract), is right again within 2 refreshes of the leaders having
    moved, and no refresh runs past --kafka-timeout."""

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_faults  # noqa: E402
import kos_harness as kh  # noqa: E402

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with kh.KafkaCluster(tmp_path_factory.mktemp("kafka"), 3) as c:
        print(f"cluster of 3 started in {c.start_seconds:.1f} s at {c.bootstrap}")
        yield c


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return ka.make_certs(tmp_path_factory.mktemp("certs"))


def tk(bootstrap, *args):
    return kh.testkit("-b", bootstrap, *args).strip()


def consume_count(bootstrap, topic, partition):
    out = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", str(partition),
                          "-o", "beginning", "-e", "-q", "-f", "%o\n"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return len(out.split())


def test_three_brokers_one_stopped_and_back(cluster):
    md = cluster.metadata()
    brokers = {b["id"]: b["name"] for b in md["brokers"]}
    assert set(brokers) == {1, 2, 3}, md["brokers"]
    assert sorted(brokers.values()) == sorted(n.bootstrap for n in cluster.nodes)
    assert len({n.bootstrap for n in cluster.nodes}) == 3
    assert all(n.bootstrap.startswith("127.0.0.1:") for n in cluster.nodes)

    b = cluster.bootstrap
    tk(b, "create-topic", "rf3", 3)
    parts = kh.wait_until(
        lambda: (lambda ps: ps if all(v["isr"] == [1, 2, 3] for v in ps.values()) else None)(
            cluster.partitions("rf3")),
        what="rf3 fully in sync")
    assert all(v["replicas"] == [1, 2, 3] for v in parts.values()), parts
    for p in range(3):
        assert tk(b, "produce", "rf3", p, 10) == "9"
    tk(b, "commit", "g-h", *(f"rf3:{p}=3" for p in range(3)))

    victim = cluster.node(parts[0]["leader"])
    address, pid = victim.bootstrap, victim.pid
    victim.stop()
    assert not victim.running
    # The controller moves every leadership off a node that shuts down cleanly.
    kh.wait_until(lambda: all(v["leader"] not in (victim.node_id, -1)
                              and victim.node_id not in v["isr"]
                              for v in cluster.partitions("rf3").values()),
                  what=f"leaders and ISR without node {victim.node_id}")
    live = cluster.live_bootstrap()
    assert victim.bootstrap not in live.split(",")
    for p in range(3):  # acks=all with min.insync.replicas 2 of the 2 left
        assert tk(b, "produce", "rf3", p, 5) == "14"
        assert consume_count(live, "rf3", p) == 15
    # Group offsets live on replicated __consumer_offsets: the coordinator moved too.
    rows = kh.cgc_describe_group(live, "g-h")
    assert sorted((r["partition"], r["current_offset"], r["lag"]) for r in rows) == [
        (0, 3, 12), (1, 3, 12), (2, 3, 12)]

    victim.start()
    assert victim.bootstrap == address and victim.pid != pid
    kh.wait_until(lambda: all(v["isr"] == [1, 2, 3] for v in cluster.partitions("rf3").values()),
                  timeout=60, what=f"node {victim.node_id} back in every ISR")
    assert {b["id"] for b in cluster.metadata()["brokers"]} == {1, 2, 3}


# --- leader stop ------------------------------------------------------------------------------

REFRESH_S, STALENESS_S, KAFKA_TIMEOUT_S = 0.5, 4, 2


def test_leader_stop_served_lag(cluster, certs, tmp_path):
    tl = kos_faults.leader_stop(cluster, certs, tmp_path, "lagging", "g-lead", mode="stop",
                                refresh_s=REFRESH_S, staleness_s=STALENESS_S,
                                kafka_timeout_s=KAFKA_TIMEOUT_S)
    print("leader stop timeline:", tl)
    assert tl["violations"] == [], tl
    assert tl["pods"]["violations"] == [], tl
    assert tl["right_again_s"] is not None, tl
    assert tl["refreshes_between_move_and_right"] <= 2, tl
    durations = tl["refresh_failed_ms"] + [tl["refresh_ok_ms_max"]]
    assert max(durations) <= KAFKA_TIMEOUT_S * 1000, tl
