"""kos-processor started on a backlog (issue 8): every new replica the HPA adds starts on one.

One backlog is generated for the whole module (kos-datagen --seed --ts-start at full speed:
200,000 frames, ~396,000 records, 4 partitions per input, virtual timestamps 1 ms apart, so
the backlog spans 200 s of stream time) and its truth computed once; each case drains it with
its own group and output topic and must end with the final session of every key equal to the
truth, with no record dropped as late:

* one processor started after the backlog was written;
* the group scaled 1 -> 4 while it drains;
* one of two members SIGKILLed mid-backlog, at-least-once and exactly-once (read_committed,
  no session emitted twice);
* live input at a high rate while members join one by one (its own topics);
* the broker frozen (SIGSTOP) mid-backlog: the tasks wait for the input they cannot fetch -
  visible on /metrics and in the log - instead of processing the other input ahead of it.
"""

import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402

FRAMES = 200000
PARTITIONS = 4
RQ, RS = "bl-rq", "bl-rs"
FAST_GROUP = ("-X", "session.timeout.ms=6000")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


@pytest.fixture(scope="module")
def backlog(kafka):
    """Writes the backlog once; returns the expected final sessions."""
    rc, _, err = kd.run(kafka.bootstrap, "--requests-topic", RQ, "--responses-topic", RS,
                        "--partitions", PARTITIONS, "--count", FRAMES, "--rate", 0, "--seed", 8,
                        "--ts-start", int(time.time() * 1000) - 3600000, "--stats-interval", 0,
                        timeout=300)
    assert rc == 0, err
    want = kp.expected_sessions(kafka.bootstrap, RQ, RS)
    assert len(want) > 150000
    return want


@pytest.fixture
def running():
    """A list for the processes a test starts; whatever still runs at the end is killed."""
    procs = []
    yield procs
    for p in procs:
        if p.proc and p.proc.poll() is None:
            p.kill()


def records_in(m):
    """Input records processed live, from a metrics dict or a running processor."""
    if isinstance(m, kp.Processor):
        m = m.metrics()
    return sum(v for k, v in m.items() if k.startswith("kos_processor_records_in_total"))


def start(running, kafka, group, name, *extra, fast_group=True):
    p = kp.Processor(kafka.bootstrap, "--requests-topic", RQ, "--responses-topic", RS,
                     "--sessions-topic", f"{group}-out", "-g", group,
                     *(FAST_GROUP if fast_group else ()), *extra, env={"POD_NAME": name},
                     name=name)
    running.append(p)
    return p.start()


def check(want, got, procs, what):
    """Asserts got == want, naming how many sessions are missing or wrong."""
    missing = len(want.keys() - got.keys())
    wrong = sum(1 for k in want.keys() & got.keys() if want[k] != got[k])
    extra = len(got.keys() - want.keys())
    if missing or wrong or extra:
        logs = "\n".join(f"--- {p.name}\n{p.stderr()[-2500:]}" for p in procs)
        raise AssertionError(
            f"{what}: {missing} of {len(want)} sessions missing, {wrong} wrong, {extra} "
            f"unexpected\n" + "\n".join(kp.compare(want, got)) + "\n" + logs)


def late(procs_metrics):
    return sum(m["kos_processor_late_records_total"] for m in procs_metrics)


def drain(kafka, group, procs, timeout=240):
    kp.wait_caught_up(kafka.bootstrap, group, (RQ, RS), PARTITIONS, timeout=timeout)
    ms = [p.metrics() for p in procs if p.returncode is None]
    for p in procs:
        if p.returncode is None:
            assert p.terminate() == 0, p.stderr()[-3000:]
    return ms


def test_one_processor_started_on_a_backlog(kafka, backlog, running):
    group = "bl-one"
    p = start(running, kafka, group, "bl-one-1")
    ms = drain(kafka, group, [p])
    check(backlog, kp.final_sessions(kafka.bootstrap, f"{group}-out"), [p], "one processor")
    assert late(ms) == 0, p.stderr()[-3000:]


def test_scaled_1_to_4_while_draining(kafka, backlog, running):
    group = "bl-scale"
    first = start(running, kafka, group, "bl-scale-1")
    procs = [first]
    first.wait_ready()
    kh.wait_until(lambda: records_in(first) > 40000, timeout=120, interval=0.1,
                  what="the first member to be into the backlog")
    procs += [start(running, kafka, group, f"bl-scale-{i}") for i in (2, 3, 4)]
    for p in procs:
        kh.wait_until(lambda p=p: p.metrics()["kos_processor_tasks"] == 1, timeout=60,
                      what=f"{p.name} to own one task")
    ms = drain(kafka, group, procs)
    check(backlog, kp.final_sessions(kafka.bootstrap, f"{group}-out"), procs, "scaled 1 -> 4")
    assert late(ms) == 0
    # Each member took part in draining the backlog (else this was not a scaling test).
    assert all(records_in(m) > 0 for m in ms), [records_in(m) for m in ms]


@pytest.mark.parametrize("mode", ["alo", "eos"])
def test_member_killed_mid_backlog(kafka, backlog, mode, running):
    group = f"bl-kill-{mode}"
    extra = ("--exactly-once",) if mode == "eos" else ()
    procs = [start(running, kafka, group, f"{group}-{i}", *extra) for i in (1, 2)]
    for p in procs:
        kh.wait_until(lambda p=p: p.metrics()["kos_processor_tasks"] == 2, timeout=60,
                      what=f"{p.name} to own two tasks")
    kh.wait_until(lambda: sum(records_in(p) for p in procs) > 0.3 * 2 * FRAMES, timeout=120,
                  interval=0.1, what="the members to be into the backlog")
    procs[1].kill()
    ms = drain(kafka, group, procs)
    out = f"{group}-out"
    if mode == "alo":
        check(backlog, kp.final_sessions(kafka.bootstrap, out), procs, "member killed (alo)")
    else:
        # The victim's open transaction blocks read_committed readers until the broker aborts
        # it (transaction.timeout.ms 10 s + the broker's 10 s check interval).
        state = {}

        def committed():
            state["records"] = kp.read_sessions(kafka.bootstrap, out, read_committed=True)
            got = kp.final_sessions(kafka.bootstrap, out, records=state["records"])
            state["got"] = got
            return got == backlog

        try:
            kh.wait_until(committed, timeout=90, interval=3, what="committed sessions")
        except AssertionError:
            check(backlog, state["got"], procs, "member killed (eos)")
        assert kp.duplicates(state["records"]) == []
    assert late(ms) == 0


def test_live_input_while_members_join(kafka, running):
    rq, rs, group = "live-rq", "live-rs", "bl-live"
    dg = kd.Datagen(kafka.bootstrap, "--requests-topic", rq, "--responses-topic", rs,
                    "--partitions", PARTITIONS, "--rate", 6000, "--duration", "16s", "--seed", 9,
                    "--stats-interval", 0)
    args = ("--requests-topic", rq, "--responses-topic", rs, "--sessions-topic",
            f"{group}-out", "-g", group, *FAST_GROUP)
    procs = []
    with dg:
        for i in range(1, 5):
            p = kp.Processor(kafka.bootstrap, *args, env={"POD_NAME": f"{group}-{i}"},
                             name=f"{group}-{i}")
            running.append(p)
            procs.append(p.start())
            p.wait_ready()
            time.sleep(3)
        assert dg.wait(60) == 0, dg.stderr()
    kp.wait_caught_up(kafka.bootstrap, group, (rq, rs), PARTITIONS, timeout=120)
    ms = [p.metrics() for p in procs]
    for p in procs:
        assert p.terminate() == 0, p.stderr()[-3000:]
    want = kp.expected_sessions(kafka.bootstrap, rq, rs)
    assert len(want) > 60000
    check(want, kp.final_sessions(kafka.bootstrap, f"{group}-out"), procs, "live input")
    assert late(ms) == 0
    assert sum(m['kos_processor_rebalances_total{kind="assign"}'] for m in ms) >= 4


def broker_pids(kafka):
    out = subprocess.run(["pgrep", "-f", f"kafka.Kafka {kafka.workdir}/server.properties"],
                         capture_output=True, text=True).stdout.split()
    assert out, "broker process not found"
    return [int(x) for x in out]


def test_broker_frozen_mid_backlog_tasks_wait_visibly(kafka, backlog, running):
    group = "bl-frozen"
    # Default session timeout: the freeze must not expire the member's session. Room for the
    # outputs the frozen broker cannot take, so that only the inputs can hold processing up.
    p = start(running, kafka, group, "bl-frozen-1", "-X", "queue.buffering.max.messages=1000000",
              fast_group=False)
    p.wait_ready()
    kh.wait_until(lambda: records_in(p) > 60000, timeout=120, interval=0.05,
                  what="the processor to be into the backlog")
    pids = broker_pids(kafka)
    seen = []

    def stalled():
        seen.append(records_in(p))
        return len(seen) > 8 and seen[-1] == seen[-8]

    try:
        for pid in pids:
            subprocess.run(["kill", "-STOP", str(pid)], check=True)
        forced = p.metrics()["kos_processor_merge_forced_total"]
        # What was fetched before the freeze is processed until each task runs out of records
        # on one input; a task that still has records on its other input must wait.
        kh.wait_until(stalled, timeout=30, interval=0.2, what="processing to stop")
        frozen_at = seen[-1]
        m = p.metrics()
        # No input is caught up while the broker has more of it: nothing went ahead.
        assert m["kos_processor_merge_forced_total"] == forced, "processed ahead"
        assert m["kos_processor_tasks_waiting"] > 0, m
        kh.wait_until(lambda: p.metrics()["kos_processor_input_wait_seconds"] >= 5.5,
                      timeout=20, what="the wait to be reported as long")
        m = p.metrics()
        # Nothing was processed ahead of an input that the broker still has data for.
        assert records_in(m) == frozen_at, "processed ahead while the broker was frozen"
        assert m["kos_processor_late_records_total"] == 0
        kh.wait_until(lambda: "the broker has more of it" in p.stderr(), timeout=10,
                      what="the log line")
    finally:
        for pid in pids:
            subprocess.run(["kill", "-CONT", str(pid)])
    ms = drain(kafka, group, [p])
    check(backlog, kp.final_sessions(kafka.bootstrap, f"{group}-out"), [p], "broker frozen")
    assert late(ms) == 0
