"""Checks the test harness itself against a real Kafka 4.3.1 broker: kos-testkit builds exact
scenarios, ConsumerGroupCommand (the reference kos is compared with) reports them as parsed by
kos_harness, and a restarted broker keeps its data and its address."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_harness as kh  # noqa: E402

TS = 1_700_000_000_000  # fixed record timestamp: scenarios must not depend on the clock


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as broker:
        print(f"broker started in {broker.start_seconds:.1f} s at {broker.bootstrap}")
        yield broker


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def tk(kafka, *args):
    return kh.testkit("-b", kafka.bootstrap, *args).strip()


def by_partition(rows, topic):
    return {r["partition"]: r for r in rows if r["topic"] == topic}


def offsets(rows, topic):
    """{partition: (CURRENT-OFFSET, LOG-END-OFFSET, LAG)} for TOPIC."""
    return {
        p: (r["current_offset"], r["log_end_offset"], r["lag"])
        for p, r in by_partition(rows, topic).items()
    }


def test_commit_and_member(kafka):
    b = kafka.bootstrap
    assert b.startswith("127.0.0.1:")
    tk(kafka, "create-topic", "orders", 3)
    tk(kafka, "create-topic", "orders", 3)  # already exists: still ok
    assert tk(kafka, "produce", "orders", 0, 10, "--ts-ms", TS) == "9"
    assert tk(kafka, "produce", "orders", 1, 5, "--ts-ms", TS, "--size", 200, "--key", "k") == "4"
    tk(kafka, "commit", "g1", "orders:0=4", "orders:1=5")

    rows = kh.cgc_describe_group(b, "g1")
    assert {r["group"] for r in rows} == {"g1"}
    # Partition 2 has neither a commit nor a member, so CGC does not list it.
    assert offsets(rows, "orders") == {0: (4, 10, 6), 1: (5, 5, 0)}
    for r in rows:
        assert (r["consumer_id"], r["host"], r["client_id"]) == (None, None, None)
    assert rows[0]["CURRENT-OFFSET"] == rows[0]["current_offset"]  # CGC spelling works too

    with kh.GroupMember(b, "g1", "holder-1", "orders") as m:
        assert m.wait_assigned(3) == {("orders", 0), ("orders", 1), ("orders", 2)}
        rows = kh.wait_until(
            lambda: [r for r in kh.cgc_describe_group(b, "g1") if r["client_id"] == "holder-1"],
            timeout=30,
            what="CGC to show client holder-1 in group g1",
        )
        assert len(rows) == 3
        # An assigned partition without a commit: no CURRENT-OFFSET, no LAG, LOG-END-OFFSET known.
        assert offsets(rows, "orders") == {0: (4, 10, 6), 1: (5, 5, 0), 2: (None, 0, None)}
        for r in rows:
            assert r["consumer_id"].startswith("holder-1-")
            assert r["host"] == "/127.0.0.1"
        assert {r["group"] for r in kh.cgc_describe_all(b)} >= {"g1"}
    assert m.proc.returncode == 0, m.output()[1]

    # After a clean leave the committed offsets stay and the member columns go back to "-".
    rows = kh.wait_until(
        lambda: (lambda rs: rs if all(r["client_id"] is None for r in rs) else None)(
            kh.cgc_describe_group(b, "g1")
        ),
        what="holder-1 to leave g1",
    )
    assert offsets(rows, "orders") == {0: (4, 10, 6), 1: (5, 5, 0)}


def test_cgc_special_cases(kafka):
    b = kafka.bootstrap
    tk(kafka, "create-topic", "gone", 2)
    tk(kafka, "create-topic", "kept", 1)
    tk(kafka, "produce", "gone", 0, 3, "--ts-ms", TS)
    tk(kafka, "produce", "kept", 0, 2, "--ts-ms", TS)
    tk(kafka, "commit", "g-mixed", "gone:0=1", "kept:0=1")
    tk(kafka, "commit", "g-only-gone", "gone:1=0")
    assert offsets(kh.cgc_describe_group(b, "g-mixed"), "gone") == {0: (1, 3, 2)}

    # Members that leave without committing leave an empty group: no table at all.
    with kh.GroupMember(b, "g-empty", "c", "kept") as m:
        m.wait_assigned(1)
    assert kh.cgc_describe_group(b, "g-empty") == []

    # Deleting a topic deletes the group's offsets on it: its rows vanish from CGC.
    tk(kafka, "delete-topic", "gone")
    kh.wait_until(
        lambda: not by_partition(kh.cgc_describe_group(b, "g-mixed"), "gone"),
        what="rows of deleted topic 'gone' to disappear from g-mixed",
    )
    assert offsets(kh.cgc_describe_group(b, "g-mixed"), "kept") == {0: (1, 2, 1)}
    assert kh.cgc_describe_group(b, "g-only-gone") == []

    # An unknown group is an error (CGC itself exits 0 and prints "Error: ..." on stdout).
    with pytest.raises(kh.CgcError, match="not found"):
        kh.cgc_describe_group(b, "no-such-group")


def test_restart_keeps_address_and_data(kafka):
    before = kafka.bootstrap
    pid = int((kafka.workdir / "pid").read_text())
    kafka.restart()
    print(f"broker restarted in {kafka.start_seconds:.1f} s")
    assert kafka.bootstrap == before
    assert not alive(pid), f"old broker pid {pid} still running after restart"
    # Same address, same log: the next record continues the offsets, the commit is still there.
    assert tk(kafka, "produce", "orders", 0, 1, "--ts-ms", TS) == "10"
    rows = kh.wait_until(
        lambda: kh.cgc_describe_group(kafka.bootstrap, "g1"), what="g1 offsets after restart"
    )
    assert offsets(rows, "orders") == {0: (4, 11, 7), 1: (5, 5, 0)}
    # stop/start twice more via the public API: stop is idempotent, start reuses the ports.
    kafka.stop()
    kafka.stop()
    kafka.start()
    assert kafka.bootstrap == before
