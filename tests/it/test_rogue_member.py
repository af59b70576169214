"""A hostile consumer-group member against kos-adapter and kos-processor (issue 9, item 1).

Any client that joins a group first is its leader and writes everyone's assignment; the broker
passes it on unchecked, to the members (SyncGroup) and to DescribeConsumerGroups. The rogue here
is a real Kafka 4.3.1 Java consumer (group.protocol=classic) with its own assignor
(tests/rogue-member), handing out partition -2, 2^31-1, the topic's count + 1000, a topic that
does not exist, other topics and repeats. Both programs must go on serving and processing
correctly, count what they ignored on /metrics and say so once in the log; run from build-asan,
an out-of-bounds access aborts the program and fails the test.
"""

import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402
import kos_rogue as kr  # noqa: E402

EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1/namespaces/default"
CUSTOM = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default"
INT32_MAX = kr.INT32_MAX


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    kr.build()
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


def tk(kafka, *args):
    return kh.testkit("-b", kafka.bootstrap, *args)


def lag_by_topic(rows, log_end):
    """{topic: lag} of ConsumerGroupCommand rows; a partition without a committed offset counts
    from the log start (0 here), i.e. its log end offset."""
    out = {}
    for r in rows:
        lag = r["lag"] if r["current_offset"] is not None else log_end[(r["topic"], r["partition"])]
        out[r["topic"]] = out.get(r["topic"], 0) + lag
    return out


def served(ad, group):
    """{topic: lag} the adapter serves for GROUP, or None while it answers anything but 200."""
    out = {}
    for topic in ("t1", "t2"):
        st, body = ad.get(f"{EXTERNAL}/kafka_consumergroup_lag?labelSelector=group%3D{group}"
                          f"%2Ctopic%3D{topic}")
        if st != 200:
            return None
        if body["items"]:
            out[topic] = int(body["items"][0]["value"])
    return out


def test_adapter_serves_every_group_right_despite_rogue_assignments(kafka, tmp_path):
    tk(kafka, "create-topic", "t1", 3)
    tk(kafka, "create-topic", "t2", 2)
    for part, count in ((0, 10), (1, 20), (2, 30)):
        tk(kafka, "produce", "t1", part, count)
    tk(kafka, "produce", "t2", 0, 5)
    tk(kafka, "produce", "t2", 1, 6)
    log_end = {("t1", 0): 10, ("t1", 1): 20, ("t1", 2): 30, ("t2", 0): 5, ("t2", 1): 6}
    # Two groups that behave, and two rogue ones. Commits go in while the groups are empty.
    tk(kafka, "commit", "gGood", "t1:0=4", "t1:1=20", "t2:0=1")
    tk(kafka, "commit", "gNeg", "t1:1=5", "t1:2=3")
    tk(kafka, "commit", "gMax", "t1:2=30", "t2:1=2")
    before = {g: kh.cgc_describe_group(kafka.bootstrap, g) for g in ("gNeg", "gMax")}
    member = kh.GroupMember(kafka.bootstrap, "gMember", "pod-m", ["t2"])
    # gNeg: partition -2 next to numbers that pass the old "> 100000" guard (the old adapter
    # then indexed owner[-2]: a heap overflow on every refresh), a topic that does not exist,
    # a repeat. gMax: 2^31-1 and -1.
    neg = kr.RogueMember(kafka.bootstrap, "gNeg", ["t1", "nosuch"], client_id="rogue-neg",
                         self_parts=[("t1", 0), ("t1", -2), ("t1", 3 + 1000), ("t1", 0),
                                     ("nosuch", 0)])
    big = kr.RogueMember(kafka.bootstrap, "gMax", ["t1", "t2"], client_id="rogue-max",
                         self_parts=[("t1", INT32_MAX), ("t2", 0), ("t1", -1), ("t2", 0)])
    try:
        member.wait_assigned(min_partitions=2)
        neg.wait_ready()
        big.wait_ready()
        # What the groups should be served: ConsumerGroupCommand for the groups that behave.
        # For the rogue ones it fails outright ("UnknownTopicOrPartitionException"), so their
        # truth is their committed rows from before the rogue joined plus the real partitions
        # it holds without a commit (counted from the log start).
        truth = {g: lag_by_topic(kh.cgc_describe_group(kafka.bootstrap, g), log_end)
                 for g in ("gGood", "gMember")}
        assert truth == {"gGood": {"t1": 6 + 0, "t2": 4}, "gMember": {"t2": 5 + 6}}, truth
        truth["gNeg"] = lag_by_topic(before["gNeg"], log_end)
        truth["gNeg"]["t1"] += log_end[("t1", 0)]
        truth["gMax"] = lag_by_topic(before["gMax"], log_end)
        truth["gMax"]["t2"] += log_end[("t2", 0)]
        assert truth["gNeg"] == {"t1": 15 + 27 + 10} and truth["gMax"] == {"t1": 0, "t2": 9}

        mapping = "default pods * gNeg\n"
        with ka.Adapter(ka.make_certs(tmp_path / "certs"), kafka.bootstrap, mapping=mapping,
                        args=["--refresh-interval", "200ms", "--max-staleness", "3s"]) as ad:
            def settled():
                assert ad.proc.poll() is None, ad.stderr()
                return all(served(ad, g) == truth[g] for g in truth)

            kh.wait_until(settled, timeout=20, what=f"served lags equal to {truth}")
            refreshes = kd.parse_metrics(ad.get("/metrics", raw=True)[1].decode())[
                'kos_adapter_refreshes_total{result="ok"}']
            time.sleep(2)  # ten more refreshes over the same rogue metadata
            assert ad.proc.poll() is None, ad.stderr()
            for g in truth:
                assert served(ad, g) == truth[g], (g, ad.stderr())
            # The rogue's pod holds t1:0 only: nothing is attributed to it by partition -2.
            st, body = ad.get(f"{CUSTOM}/pods/rogue-neg/kafka_consumer_lag")
            assert st == 200 and body["items"][0]["value"] == "10", body
            m = kd.parse_metrics(ad.get("/metrics", raw=True)[1].decode())
            assert m['kos_adapter_refreshes_total{result="ok"}'] >= refreshes + 5
            # Per refresh: -2, 1003, 2^31-1, -1; nosuch:0 assigned.
            assert m['kos_adapter_group_metadata_rejected{reason="bad_partition"}'] == 4, m
            assert m['kos_adapter_group_metadata_rejected{reason="unknown_topic"}'] == 1, m
            total = m['kos_adapter_group_metadata_rejected_total{reason="bad_partition"}']
            assert total >= 4 * 5, m
            for g, t in (("gGood", "t1"), ("gMember", "t2"), ("gNeg", "t1"), ("gMax", "t2")):
                assert f'kafka_consumergroup_lag{{group="{g}",topic="{t}"}} {truth[g][t]}\n' in \
                    ad.get("/metrics", raw=True)[1].decode()
        log = "\n".join(ad.stderr_lines)
        # Logged once per group, naming group, member, topic and partition, not per refresh.
        for g, client, parts in (("gNeg", "rogue-neg", "(-2|1003)"),
                                 ("gMax", "rogue-max", f"(-1|{INT32_MAX})")):
            lines = [line for line in ad.stderr_lines if f"group {g}: ignoring" in line]
            assert len(lines) == 1, log
            assert re.search(rf"first: t1 \[{parts}\] \(bad_partition\) assigned to member "
                             rf"{client}-\S+ \(client\.id {client}\)", lines[0]), lines[0]
    finally:
        for c in (neg, big, member):
            c.stop()


def test_processor_ignores_a_rogue_leaders_assignment_and_loses_nothing(kafka):
    rq, rs, out = "rg-rq", "rg-rs", "rg-out"
    group = "rg-g"
    rc, _, err = kd.run(kafka.bootstrap, "--requests-topic", rq, "--responses-topic", rs,
                        "--stats-interval", "0", "--partitions", 4, "--count", 3000, "--rate", 0,
                        "--seed", 31, "--ts-start", int(time.time() * 1000), timeout=180)
    assert rc == 0, err
    total = sum(kd.end_offsets(kafka.bootstrap, rq, 4).values()) + \
        sum(kd.end_offsets(kafka.bootstrap, rs, 4).values())
    # The rogue joins first, alone: it is the leader, and stays it when the processor joins.
    # Its assignor has the name the processor's has, so the broker picks it; it gives the
    # processor every real task plus -2, 2^31-1, the count + 1000, a repeat, a partition of the
    # other input and a topic that does not exist.
    # It also commits task 0's offsets (at 0, so nothing is skipped) with a "stream time" that
    # made the replay arithmetic (st - 2*window - grace) overflow.
    bogus = [(rq, -2), (rq, INT32_MAX), (rq, 4 + 1000), (rq, 0), (rs, 1), ("nosuch", 0)]
    with kr.RogueMember(kafka.bootstrap, group, [rq], protocol="cooperative-sticky",
                        cooperative=True, other_parts=[(rq, p) for p in range(4)] + bogus,
                        commits=[(rq, 0, 0), (rs, 0, 0)],
                        commit_metadata="kos1 st=-9223372036854775807") as r:
        r.wait_ready()
        assert r.count("committed ") == 2 and "error" not in r.output()[0], r.output()
        p = kp.Processor(kafka.bootstrap, "--requests-topic", rq, "--responses-topic", rs,
                         "--sessions-topic", out, "-g", group, "-X", "session.timeout.ms=6000",
                         env={"POD_NAME": "victim"})
        with p:
            p.wait_ready()
            r.wait_line(lambda line: line == "leader members 2", timeout=30,
                        what="the rogue leading a rebalance with the processor in it")

            def caught_up():
                assert p.proc.poll() is None, p.stderr()
                m = p.metrics()
                done = (m[f'kos_processor_records_in_total{{topic="{rq}"}}']
                        + m[f'kos_processor_records_in_total{{topic="{rs}"}}'])
                return done >= total and m

            m = kh.wait_until(caught_up, timeout=120, what=f"the processor to process {total}")
            # Every real task taken, nothing else (the gauge follows --stats-interval).
            kh.wait_until(lambda: p.metrics()["kos_processor_tasks"] == 4, timeout=10,
                          what="4 tasks")
            rej = {k: v for k, v in m.items() if k.startswith("kos_processor_assignment_rejected")}
            assert rej[f'kos_processor_assignment_rejected_total{{reason="bad_partition"}}'] >= 3
            assert rej[f'kos_processor_assignment_rejected_total{{reason="other_topic"}}'] >= 2
            rc = p.terminate()
        assert rc == 0, p.stderr()[-5000:]
        log = p.stderr()
        lines = [line for line in log.splitlines() if "the group leader assigned" in line]
        assert lines and re.search(rf"group {group}, member victim-\S+: .* first: ", lines[0]), log
        assert len(lines) <= 2, lines  # rate-limited
        # The processor committed everything before it left (the rogue's own assignment is
        # empty, so ConsumerGroupCommand can read the group again).
        rows = kh.wait_until(lambda: kh.cgc_describe_group(kafka.bootstrap, group),
                             timeout=30, what="the group's committed offsets")
        ends = {(t, q): e for t in (rq, rs) for q, e in kd.end_offsets(kafka.bootstrap, t, 4).items()}
        assert {(x["topic"], x["partition"]): x["current_offset"] for x in rows} == ends, rows
    want = kp.expected_sessions(kafka.bootstrap, rq, rs)
    assert len(want) > 100
    assert kp.compare(want, kp.final_sessions(kafka.bootstrap, out)) == []
