"""kos-processor against a real Kafka broker.

* No loss: generated input (kos-datagen --seed --count) goes through the processor while the
  group scales 1 -> 4 -> 1 processes and one of them is killed with SIGKILL; every request
  that has a response within the window ends up in SESSIONS (the final session of each key
  equals the one computed from the input topics). With --exactly-once, read_committed, the
  same holds and no session is emitted twice.
* Poison records (invalid JSON, missing fields, wrong types, huge values, keys that are not
  headers, no key) are skipped and counted; they do not stop progress.
* Inputs with different partition counts are refused with a clear message.
* client.id is POD_NAME, visible in kafka-consumer-groups --describe; /healthz, /readyz,
  /metrics; SIGTERM commits and leaves promptly. Bad flags exit 2 naming the flag.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402

FAST_GROUP = ("-X", "session.timeout.ms=6000")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


def now_ms():
    return int(time.time() * 1000)


def topics(prefix):
    return f"{prefix}-rq", f"{prefix}-rs", f"{prefix}-out"


def proc_args(prefix, *extra):
    rq, rs, out = topics(prefix)
    return ("--requests-topic", rq, "--responses-topic", rs, "--sessions-topic", out, "-g",
            f"{prefix}-g", *extra)


def generate(bootstrap, prefix, *args, timeout=180):
    rq, rs, _ = topics(prefix)
    rc, _, err = kd.run(bootstrap, "--requests-topic", rq, "--responses-topic", rs,
                        "--stats-interval", "0", *args, timeout=timeout)
    assert rc == 0, err
    return err


# --- no broker needed ---------------------------------------------------------------------


@pytest.mark.parametrize("args,flag", [
    (["--bogus"], "--bogus"),
    (["--window", "abc"], "--window"),
    (["--window", "0"], "--window"),
    (["--grace", "-1s"], "--grace"),
    (["--commit-interval", "soon"], "--commit-interval"),
    (["--max-session-hits", "0"], "--max-session-hits"),
    (["--http-port", "70000"], "--http-port"),
    (["--max-buffered", "x"], "--max-buffered"),
    (["--max-task-idle", "-1s"], "--max-task-idle"),
    (["--max-task-idle", "soon"], "--max-task-idle"),
    # The merge needs end-of-partition events to know an input is caught up.
    (["-X", "enable.partition.eof=false"], "enable.partition.eof"),
    (["--requests-topic", "a", "--responses-topic", "a"], "--responses-topic"),
    (["--sessions-topic", "GAME-FRAME-RQ"], "--sessions-topic"),
    (["-X", "no.such.property=1"], "no.such.property"),
    (["-X", "session.timeout.ms=banana"], "session.timeout.ms"),
    (["--group", ""], "--group"),
    (["extra-arg"], "extra-arg"),
])
def test_bad_flags_exit_2_naming_the_flag(args, flag):
    rc, _, err = kp.run("127.0.0.1:1", *args, timeout=20)
    assert rc == 2, (rc, err)
    assert flag in err, err


@pytest.mark.parametrize("var,value", [
    ("KOS_JOIN_WINDOW", "3 seconds"),
    ("KOS_GRACE", "x"),
    ("KOS_EXACTLY_ONCE", "maybe"),
    ("KOS_COMMIT_INTERVAL", "-5"),
])
def test_bad_environment_exit_2_naming_the_variable(var, value):
    rc, _, err = kp.run("127.0.0.1:1", timeout=20, env={var: value})
    assert rc == 2 and var in err, (rc, err)


def test_help_and_missing_brokers():
    p = subprocess.run([kp.processor_path(), "--help"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0
    for word in ("--exactly-once", "--window", "--grace", "POD_NAME", "KOS_GROUP_ID",
                 "KINGOFSCALING-APP"):
        assert word in p.stdout, word
    p = subprocess.run([kp.processor_path(), "--no-http"], capture_output=True, text=True,
                       timeout=20, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and "no Kafka brokers" in p.stderr, p.stderr


# --- with a broker ---------------------------------------------------------------------------


def test_refuses_inputs_that_are_not_co_partitioned(kafka):
    rq, rs, _ = topics("copart")
    kh.testkit("-b", kafka.bootstrap, "create-topic", rq, 4)
    kh.testkit("-b", kafka.bootstrap, "create-topic", rs, 3)
    rc, _, err = kp.run(kafka.bootstrap, *proc_args("copart"), timeout=60)
    assert rc == 1, err
    assert "not co-partitioned" in err and rq in err and rs in err, err
    assert "4" in err and "3" in err, err


def test_pod_name_health_metrics_and_prompt_sigterm(kafka):
    prefix = "pod"
    generate(kafka.bootstrap, prefix, "--count", 500, "--rate", 0, "--seed", 3, "--ts-start",
             now_ms())
    p = kp.Processor(kafka.bootstrap, *proc_args(prefix), env={"POD_NAME": "processor-7d9f-x2"})
    with p:
        p.wait_ready()
        assert p.request("GET", "/healthz")[0] == 200
        rows = kh.wait_until(
            lambda: [r for r in kh.cgc_describe_group(kafka.bootstrap, f"{prefix}-g")
                     if r["client_id"]], timeout=30, what="members in the group")
        assert {r["client_id"] for r in rows} == {"processor-7d9f-x2"}, rows
        kh.wait_until(lambda: p.metrics()["kos_processor_joins_total"] > 0, timeout=30,
                      what="joins")
        m = p.metrics()
        for name in ("kos_processor_records_in_total{topic=\"pod-rq\"}",
                     "kos_processor_records_out_total", "kos_processor_decode_failures_total",
                     "kos_processor_state_records", "kos_processor_state_sessions",
                     "kos_processor_state_bytes", "kos_processor_commit_latency_seconds_count",
                     "kos_processor_rebalances_total{kind=\"assign\"}",
                     "kos_processor_bad_records_total{topic=\"pod-rs\"}"):
            assert name in m, name
        t0 = time.monotonic()
        rc = p.terminate()
        took = time.monotonic() - t0
    assert rc == 0, p.stderr()
    assert took < 5, f"SIGTERM took {took:.1f}s"
    assert "committed, left the group" in p.stderr()
    # Left the group (no members), offsets committed up to the end.
    rows = kh.cgc_describe_group(kafka.bootstrap, f"{prefix}-g")
    assert rows and all(r["consumer_id"] is None and r["lag"] == 0 for r in rows), rows
    want = kp.expected_sessions(kafka.bootstrap, *topics(prefix)[:2])
    assert kp.compare(want, kp.final_sessions(kafka.bootstrap, topics(prefix)[2])) == []


def kcat_produce(bootstrap, topic, partition, lines):
    """Produces key<TAB>value lines (a line without a tab: no key) to one partition."""
    data = "".join(line + "\n" for line in lines).encode()
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", "\t",
                    "-X", "message.max.bytes=2000000"],
                   input=data, check=True, timeout=60)


def test_poison_records_do_not_stop_progress(kafka):
    prefix = "poison"
    rq, rs, out = topics(prefix)
    generate(kafka.bootstrap, prefix, "--partitions", 2, "--count", 300, "--rate", 0, "--seed",
             11, "--ts-start", now_ms())
    header = json.dumps({"ts": now_ms(), "machine": "000001", "zone": "EU"},
                        separators=(",", ":"))
    body = '{"approval":false,"bytes":["e3001f00d9b5"]}'
    poison = [
        f"{header}\tnot json",
        f"{header}\t{{\"approval\":false}}",
        f"{header}\t{{\"approval\":\"no\",\"bytes\":[]}}",
        f"{header}\t{{\"approval\":false,\"bytes\":[1,2]}}",
        f"{header}\t[" + "1," * 450000 + "1]",  # ~900 KB, not an object
        f"{{\"foo\":1}}\t{body}",
        f"garbage\t{body}",
        f"{{\"ts\":-5,\"machine\":\"000001\",\"zone\":\"EU\"}}\t{body}",
        f"{{\"ts\":1,\"machine\":\"000001\",\"zone\":\"EU\",\"pad\":\"{'x' * 2000}\"}}\t{body}",
        body,  # no key
    ]
    for topic in (rq, rs):
        for part in (0, 1):
            kcat_produce(kafka.bootstrap, topic, part, poison)
    # Good data after the poison, on every partition.
    generate(kafka.bootstrap, prefix, "--partitions", 2, "--count", 300, "--rate", 0, "--seed",
             12, "--ts-start", now_ms() + 100000)
    with kp.Processor(kafka.bootstrap, *proc_args(prefix)) as p:
        p.wait_ready()
        kp.wait_caught_up(kafka.bootstrap, f"{prefix}-g", (rq, rs), 2, timeout=60)
        m = p.metrics()
        bad = (m[f'kos_processor_bad_records_total{{topic="{rq}"}}']
               + m[f'kos_processor_bad_records_total{{topic="{rs}"}}'])
        assert bad == 4 * len(poison), (bad, p.stderr()[-3000:])
        assert p.proc.poll() is None
    assert p.returncode == 0
    log = p.stderr()
    assert "skipping bad record" in log and "at offset" in log, log[-3000:]
    # Rate-limited: far fewer warning lines than bad records.
    assert log.count("skipping bad record") < 4 * len(poison), log
    want = kp.expected_sessions(kafka.bootstrap, rq, rs)
    assert len(want) > 500
    assert kp.compare(want, kp.final_sessions(kafka.bootstrap, out)) == []


def scale_1_4_1_with_a_kill(kafka, prefix, extra=()):
    """Runs datagen for ~25 s while processors scale 1 -> 4 -> 1 and one is SIGKILLed; returns
    the processes (all stopped) once the group has committed the end of the input."""
    rq, rs, _ = topics(prefix)
    args = proc_args(prefix, *FAST_GROUP, *extra)
    procs = []

    def start(name):
        p = kp.Processor(kafka.bootstrap, *args, env={"POD_NAME": name}, name=name).start()
        procs.append(p)
        return p

    def owns_tasks(p):
        return p.metrics()["kos_processor_tasks"] > 0

    dg = kd.Datagen(kafka.bootstrap, "--requests-topic", rq, "--responses-topic", rs,
                    "--rate", 3000, "--count", 75000, "--seed", 21, "--ts-start", now_ms(),
                    "--stats-interval", "0")
    with dg:
        first = start(f"{prefix}-1")
        first.wait_ready()
        time.sleep(4)
        more = [start(f"{prefix}-{i}") for i in (2, 3, 4)]
        for p in more:
            kh.wait_until(lambda p=p: owns_tasks(p), timeout=60, what=f"{p.name} to own tasks")
        time.sleep(4)
        # Scale in: two leave cleanly, one is killed while it owns a task.
        assert more[0].terminate() == 0, more[0].stderr()
        assert more[1].terminate() == 0, more[1].stderr()
        kh.wait_until(lambda: owns_tasks(more[2]), timeout=30, what="the victim to own tasks")
        time.sleep(1)
        more[2].kill()
        dg.wait(120)
    assert dg.returncode == 0, dg.stderr()
    kp.wait_caught_up(kafka.bootstrap, f"{prefix}-g", (rq, rs), 4, timeout=180)
    m = first.metrics()
    assert first.terminate() == 0, first.stderr()
    return procs, m


def test_no_loss_while_scaling_at_least_once(kafka):
    prefix = "alo"
    rq, rs, out = topics(prefix)
    procs, m = scale_1_4_1_with_a_kill(kafka, prefix)
    want = kp.expected_sessions(kafka.bootstrap, rq, rs)
    assert len(want) > 60000
    got = kp.final_sessions(kafka.bootstrap, out)
    diffs = kp.compare(want, got)
    assert diffs == [], "\n".join(diffs) + "\n" + procs[0].stderr()[-4000:]
    assert m['kos_processor_rebalances_total{kind="assign"}'] >= 2
    assert m["kos_processor_late_records_total"] == 0, procs[0].stderr()[-3000:]


def test_no_loss_no_duplicates_exactly_once(kafka):
    prefix = "eos"
    rq, rs, out = topics(prefix)
    procs, m = scale_1_4_1_with_a_kill(kafka, prefix, extra=("--exactly-once",))
    want = kp.expected_sessions(kafka.bootstrap, rq, rs)
    assert len(want) > 60000
    # The killed member's open transaction blocks read_committed readers until the broker
    # aborts it (transaction.timeout.ms 10 s + the broker's 10 s check interval).
    state = {}

    def matches():
        state["records"] = kp.read_sessions(kafka.bootstrap, out, read_committed=True)
        state["diffs"] = kp.compare(want, kp.final_sessions(kafka.bootstrap, out,
                                                            records=state["records"]))
        return state["diffs"] == []

    try:
        kh.wait_until(matches, timeout=90, interval=3, what="committed sessions to match")
    except AssertionError:
        raise AssertionError("\n".join(state.get("diffs", [])) + "\n" +
                             procs[0].stderr()[-4000:]) from None
    dups = kp.duplicates(state["records"])
    assert dups == [], dups[:5]
    assert m["kos_processor_transaction_aborts_total"] >= 0
