"""Differential test: the same input through kos-processor and through the Kafka Streams
implementation of the original topology (tests/streams-ref/run.sh) gives the same final session
per key, and both equal the sessions computed from the input topics. At-least-once and
exactly-once (read_committed) each.

The input: 20000 generated frames (kos-datagen --seed), a batch whose frames share their
timestamp so that keys repeat (n requests x m responses pairs), and a few hand-made records:
undecodable and upper-case hex strings, a null approval, bodies that do not parse.

The backlog case: 150000 frames (~300000 records, 150 s of stream time) written before either
implementation starts, as a new replica finds them after a scale-out; kos-processor before
issue 8 lost joins on it (an input's queue ran dry and the other was processed ahead)."""

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402

PARTITIONS = 4
WINDOW_MS = 3000
GRACE_MS = 1000

missing = kp.streams_ref_missing()
pytestmark = pytest.mark.skipif(missing is not None, reason=missing or "")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


def header(ts, machine, zone="EU"):
    return json.dumps({"ts": ts, "machine": machine, "zone": zone}, separators=(",", ":"))


def kcat_produce(bootstrap, topic, partition, pairs):
    data = "".join(f"{k}\t{v}\n" for k, v in pairs).encode()
    kd.subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K",
                       "\t"], input=data, check=True, timeout=60)


@pytest.fixture(scope="module")
def inputs(kafka):
    """Creates and fills the input topics once; returns (rq, rs, expected sessions)."""
    b = kafka.bootstrap
    rq, rs = "diff-rq", "diff-rs"
    kh.testkit("-b", b, "create-topic", rq, PARTITIONS)
    kh.testkit("-b", b, "create-topic", rs, PARTITIONS)
    t0 = int(time.time() * 1000)
    # Hand-made records first (kcat stamps them with the wall clock, before the frames below).
    k1, k2, k3, k4 = (header(t0 - 500, m) for m in ("900001", "900002", "900003", "900004"))
    kcat_produce(b, rq, 0, [
        (k1, '{"approval":false,"bytes":["e3001f00d9b5","zz","e3001f00d9","C3FF8D4F14FFC3D9B5"]}'),
        (k2, "not json"),
    ])
    kcat_produce(b, rs, 0, [(k1, '{"approval":true,"bytes":[]}'),
                            (k2, '{"approval":true,"bytes":[]}')])
    kcat_produce(b, rq, 1, [(k3, '{"approval":false,"bytes":["c3ff8ab13000e9c5"]}'),
                            (k4, '{"approval":null,"bytes":["c3ff8ab13000e9c5"]}')])
    kcat_produce(b, rs, 1, [(k3, '{"approval":true}'),
                            (k4, '{"approval":true,"bytes":["c3ff8ab13000e9c5"]}')])
    common = ("--requests-topic", rq, "--responses-topic", rs, "--rate", 0, "--stats-interval", 0,
              "--no-create-topics")
    for args in (("--count", 20000, "--seed", 5, "--ts-start", t0 + 1000),
                 ("--count", 90, "--seed", 6, "--ts-start", t0 + 30000, "--ts-step", 0)):
        rc, _, err = kd.run(b, *common, *args, timeout=180)
        assert rc == 0, err
    want = kp.expected_sessions(b, rq, rs, window_ms=WINDOW_MS)
    assert len(want) > 19000
    assert any(sum(c.values()) > 5 * 2 for c in want.values()), "no repeated keys"
    return rq, rs, want


@pytest.fixture(scope="module")
def backlog(kafka):
    """A large pre-written input of its own; returns (rq, rs, expected sessions)."""
    b = kafka.bootstrap
    rq, rs = "diff-bl-rq", "diff-bl-rs"
    rc, _, err = kd.run(b, "--requests-topic", rq, "--responses-topic", rs, "--partitions",
                        PARTITIONS, "--count", 150000, "--rate", 0, "--seed", 7, "--ts-start",
                        int(time.time() * 1000) - 7200000, "--stats-interval", 0, timeout=300)
    assert rc == 0, err
    want = kp.expected_sessions(b, rq, rs, window_ms=WINDOW_MS)
    assert len(want) > 140000
    return rq, rs, want


def ordered(records):
    """{key: hit list} of the last record of each key, order kept."""
    last = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        last[r.key] = json.loads(r.value)["hits"]
    return last


@pytest.mark.parametrize("mode", ["alo", "eos"])
def test_same_final_sessions_as_kafka_streams(kafka, inputs, mode):
    b = kafka.bootstrap
    rq, rs, want = inputs
    eos = mode == "eos"
    kos_out, ref_out = f"diff-kos-{mode}", f"diff-ref-{mode}"
    kh.testkit("-b", b, "create-topic", ref_out, PARTITIONS)

    kos_args = ["--requests-topic", rq, "--responses-topic", rs, "--sessions-topic", kos_out,
                "-g", f"diff-kos-{mode}", "--window", f"{WINDOW_MS}ms", "--grace",
                f"{GRACE_MS}ms"]
    if eos:
        kos_args.append("--exactly-once")
    with kp.Processor(b, *kos_args, name=f"diff-kos-{mode}") as p:
        p.wait_ready()
        kp.wait_caught_up(b, f"diff-kos-{mode}", (rq, rs), PARTITIONS, timeout=120)
        km = p.metrics()
    assert p.returncode == 0, p.stderr()[-3000:]

    ref_args = ["--app-id", f"diff-ref-{mode}", "--rq", rq, "--rs", rs, "--out", ref_out,
                "--window-ms", WINDOW_MS, "--grace-ms", GRACE_MS]
    if eos:
        ref_args.append("--eos")
    with kp.StreamsRef(b, *ref_args) as ref:
        kp.wait_caught_up(b, f"diff-ref-{mode}", (rq, rs), PARTITIONS, timeout=240)
        time.sleep(1.5)  # one more stats line after the last commit
        rstats = ref.stats()

    kos_recs = kp.read_sessions(b, kos_out, read_committed=eos)
    ref_recs = kp.read_sessions(b, ref_out, read_committed=eos)
    kos_final = kp.final_sessions(b, kos_out, records=kos_recs)
    ref_final = kp.final_sessions(b, ref_out, records=ref_recs)
    assert kp.compare(want, ref_final) == [], "reference vs input"
    diffs = kp.compare(ref_final, kos_final)
    assert diffs == [], "kos-processor vs Kafka Streams:\n" + "\n".join(diffs)
    # Keys joined once carry the request's hits in body order in both.
    kos_ordered, ref_ordered = ordered(kos_recs), ordered(ref_recs)
    single = [k for k, c in want.items() if sum(c.values()) <= 5]
    assert all(kos_ordered[k] == ref_ordered[k] for k in single)
    # The same work, counted the same way.
    assert rstats is not None, ref.stderr()[-2000:]
    assert km["kos_processor_joins_total"] == rstats["joined"], (km, rstats)
    assert km["kos_processor_hits_total"] == rstats["hits"], (km, rstats)
    assert km["kos_processor_decode_failures_total"] == rstats["bad_hits"], (km, rstats)


def test_backlog_same_as_kafka_streams(kafka, backlog):
    b = kafka.bootstrap
    rq, rs, want = backlog
    kos_out, ref_out = "diff-bl-kos", "diff-bl-ref"
    kh.testkit("-b", b, "create-topic", ref_out, PARTITIONS)
    with kp.Processor(b, "--requests-topic", rq, "--responses-topic", rs, "--sessions-topic",
                      kos_out, "-g", "diff-bl-kos", name="diff-bl-kos") as p:
        p.wait_ready()
        kp.wait_caught_up(b, "diff-bl-kos", (rq, rs), PARTITIONS, timeout=180)
        km = p.metrics()
    assert p.returncode == 0, p.stderr()[-3000:]
    with kp.StreamsRef(b, "--app-id", "diff-bl-ref", "--rq", rq, "--rs", rs, "--out", ref_out,
                       "--window-ms", WINDOW_MS, "--grace-ms", GRACE_MS) as ref:
        kp.wait_caught_up(b, "diff-bl-ref", (rq, rs), PARTITIONS, timeout=300)
        time.sleep(1.5)  # one more stats line after the last commit
        rstats = ref.stats()
    ref_final = kp.final_sessions(b, ref_out)
    kos_final = kp.final_sessions(b, kos_out)
    assert kp.compare(want, ref_final) == [], "reference vs input"
    missing = len(ref_final.keys() - kos_final.keys())
    diffs = kp.compare(ref_final, kos_final)
    assert diffs == [], (f"kos-processor vs Kafka Streams on a backlog: {missing} of "
                         f"{len(ref_final)} sessions missing\n" + "\n".join(diffs) + "\n" +
                         p.stderr()[-2000:])
    assert km["kos_processor_late_records_total"] == 0
    assert rstats is not None, ref.stderr()[-2000:]
    assert km["kos_processor_joins_total"] == rstats["joined"], (km, rstats)
