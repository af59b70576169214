"""kos-datagen against a real Kafka broker: a seed replays the same records in the same order
per partition, keyed to the partitions Java's DefaultPartitioner picks; 5k frames/s holds
within 2 % over 10 s; PUT /rate and SIGUSR1/2 take effect within a second; every acknowledged
record is in the topic and nothing more; responses are ~100/101 of requests with the same
key and body; topic co-partitioning is enforced; bad flags and an unreachable broker end the
program with a clear message."""

import json
import math
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402

TS0 = 1700000000000


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    with kh.KafkaBroker(tmp_path_factory.mktemp("kafka")) as k:
        yield k


def by_partition(records):
    parts = defaultdict(list)
    for r in records:
        parts[r.partition].append((r.ts, r.key, r.value))
    return dict(parts)


def total_end(bootstrap, topic, partitions=4):
    return sum(kd.end_offsets(bootstrap, topic, partitions).values())


def within_sigma(observed, n, p, k=5):
    return abs(observed - n * p) <= k * math.sqrt(n * p * (1 - p))


# --- no broker needed ---------------------------------------------------------------------


@pytest.mark.parametrize("args,flag", [
    (["--rate", "abc"], "--rate"),
    (["--rate", "-5"], "--rate"),
    (["--bogus"], "--bogus"),
    (["--profile", "1000"], "--profile"),
    (["--profile", "ramp:max@1s"], "--profile"),
    (["--rate", "5", "--profile", "1@1s"], "--profile"),
    (["--partitions", "0"], "--partitions"),
    (["--duration", "soon"], "--duration"),
    (["--count", "-1"], "--count"),
    (["--seed", "x"], "--seed"),
    (["--ts-step", "5"], "--ts-step"),
    (["--http-port", "70000"], "--http-port"),
    (["--connect-timeout", "1ms"], "--connect-timeout"),
    (["-X", "no.such.property=1"], "no.such.property"),
    (["-X", "linger.ms=banana"], "linger.ms"),
    (["--requests-topic", "t", "--responses-topic", "t"], "--responses-topic"),
    (["extra-arg"], "extra-arg"),
])
def test_bad_flags_exit_2_naming_the_flag(args, flag):
    rc, out, err = kd.run("127.0.0.1:1", *args, timeout=20)
    assert rc == 2, (rc, err)
    assert flag in err, err
    assert "Traceback" not in err


def test_no_brokers_and_help():
    p = kd.subprocess.run([kd.datagen_path(), "--no-http"], capture_output=True, text=True,
                          timeout=20, env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 2 and "no Kafka brokers" in p.stderr, p.stderr
    p = kd.subprocess.run([kd.datagen_path(), "--help"], capture_output=True, text=True,
                          timeout=20)
    assert p.returncode == 0
    for word in ("--rate", "--profile", "--seed", "--count", "--duration", "PUT /rate",
                 "SIGUSR1", "--partitions", "-X"):
        assert word in p.stdout, word


def test_unreachable_broker_exits_within_the_timeout():
    t0 = time.monotonic()
    rc, out, err = kd.run("127.0.0.1:1", "--connect-timeout", "2s", timeout=30)
    took = time.monotonic() - t0
    assert rc == 1, (rc, err)
    assert "cannot get metadata from Kafka within 2000 ms" in err, err
    assert took < 8, took


def test_http_port_in_use_is_a_start_error():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        p = kd.subprocess.run([kd.datagen_path(), "-b", "127.0.0.1:1", "--bind-address",
                               "127.0.0.1", "--http-port", str(port)],
                              capture_output=True, text=True, timeout=20)
    assert p.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in p.stderr, p.stderr


# --- against the broker -------------------------------------------------------------------


def test_seed_replays_the_same_records_in_the_same_order(kafka):
    common = ["--seed", 42, "--ts-start", TS0, "--ts-step", 1, "--count", 3000, "--rate", 0]
    for run in ("a", "b"):
        rc, _, err = kd.run(kafka.bootstrap, *common, "--requests-topic", f"seed-rq-{run}",
                            "--responses-topic", f"seed-rs-{run}")
        assert rc == 0, err
        assert "seed 42" in err
    for kind in ("rq", "rs"):
        a = kd.read_topic(kafka.bootstrap, f"seed-{kind}-a")
        b = kd.read_topic(kafka.bootstrap, f"seed-{kind}-b")
        assert by_partition(a) == by_partition(b)
        assert len(a) == (3000 if kind == "rq" else len(b)) and len(a) > 2800
        # Keys land where Java's DefaultPartitioner would put them, record ts = header ts.
        for r in a:
            assert r.partition == kd.java_partition(r.key, 4), r
            assert r.ts == json.loads(r.key)["ts"]
    rq = kd.read_topic(kafka.bootstrap, "seed-rq-a")
    assert sorted(json.loads(r.key)["ts"] for r in rq) == list(range(TS0, TS0 + 3000))
    # A different seed gives a different stream.
    rc, _, err = kd.run(kafka.bootstrap, "--seed", 43, "--ts-start", TS0, "--count", 3000,
                        "--rate", 0, "--requests-topic", "seed-rq-c", "--responses-topic",
                        "seed-rs-c")
    assert rc == 0, err
    assert by_partition(kd.read_topic(kafka.bootstrap, "seed-rq-c")) != by_partition(rq)


def test_python_murmur2_matches_java_vectors():
    # Vectors computed with kafka-clients 4.3.1 Utils.murmur2 (see tests/unit/test_frame.c).
    assert kd.java_partition(b'{"ts":1700000000000,"machine":"000042","zone":"EU"}', 100) == 59
    assert kd.java_partition(b"kafka", 100) == 80
    assert kd.java_partition(b"", 100) == 81
    assert kd.java_partition(b"abc", 4) == 3


def test_records_are_the_seed_format(kafka):
    rc, _, err = kd.run(kafka.bootstrap, "--count", 500, "--rate", 0, "--requests-topic",
                        "fmt-rq", "--responses-topic", "fmt-rs")
    assert rc == 0, err
    rq = {r.key: r.value for r in kd.read_topic(kafka.bootstrap, "fmt-rq")}
    machines = set()
    for key, value in rq.items():
        h = json.loads(key)
        assert list(h) == ["ts", "machine", "zone"]
        assert key == json.dumps(h, separators=(",", ":")).encode()
        assert len(h["machine"]) == 6 and h["machine"].isdigit() and 4 <= int(h["machine"])
        assert h["zone"] in ("EU", "US", "ZG", "AU")
        machines.add(h["machine"])
        b = json.loads(value)
        assert list(b) == ["approval", "bytes"] and b["approval"] is False
        assert 1 <= len(b["bytes"]) <= 5
        for hx in b["bytes"]:
            assert hx == hx.lower() and len(hx) in (14, 16)
            bb = bytes.fromhex(hx)
            assert bb[0] in (0xE3, 0xC3) and bb[1] == 0xFF and bb[-3] == 0x00
    assert 10 <= len(machines) <= 35


def test_rate_5k_for_10s_within_2_percent(kafka):
    with kd.Datagen(kafka.bootstrap, "--rate", 5000, "--duration", "12s", "--requests-topic",
                    "rate-rq", "--responses-topic", "rate-rs") as dg:
        assert dg.wait(60) == 0, dg.stderr()
    rq = kd.read_topic(kafka.bootstrap, "rate-rq")
    ts = sorted(r.ts for r in rq)
    # The middle 10 s (the first and last second hold start-up and the stop).
    t0 = ts[0] + 1000
    n = sum(1 for t in ts if t0 <= t < t0 + 10000)
    assert abs(n / 10 - 5000) <= 5000 * 0.02, n / 10
    rep = dg.report()
    assert rep["failed"] == 0 and rep["requests"] == len(rq)


def rate_between(ts, a, b):
    return sum(1 for t in ts if a <= t < b) / ((b - a) / 1000)


def test_put_rate_and_signals_take_effect_within_a_second(kafka):
    with kd.Datagen(kafka.bootstrap, "--rate", 1000, "--requests-topic", "put-rq",
                    "--responses-topic", "put-rs", "--rate-step", 500) as dg:
        time.sleep(2.5)
        body = dg.put_rate(4000)
        t_put = time.time() * 1000
        assert json.loads(body) == {"rate": 4000}
        assert json.loads(dg.request("GET", "/rate")[1]) == {"rate": 4000}
        time.sleep(3)
        dg.signal(signal.SIGUSR1)
        kh.wait_until(lambda: json.loads(dg.request("GET", "/rate")[1]) == {"rate": 4500},
                      timeout=2, what="SIGUSR1 step")
        # Standard signals do not queue: two sent back to back may arrive as one.
        for want in (4000, 3500):
            dg.signal(signal.SIGUSR2)
            kh.wait_until(lambda: json.loads(dg.request("GET", "/rate")[1]) == {"rate": want},
                          timeout=2, what="SIGUSR2 step")
        # The loop applies a posted rate within its 10 ms poll.
        kh.wait_until(lambda: dg.metrics()["kos_datagen_target_rate"] == 3500, timeout=1,
                      what="target rate on /metrics")
        # Bad bodies are refused and change nothing.
        for bad in ("fast", "-1", "", '{"rate":"x"}', "1e9"):
            st, msg = dg.request("PUT", "/rate", bad)
            assert st == 400, (bad, st, msg)
        assert json.loads(dg.request("GET", "/rate")[1]) == {"rate": 3500}
        assert dg.request("PUT", "/rate", '{"rate": "max"}')[0] == 200
        kh.wait_until(lambda: dg.metrics()["kos_datagen_target_rate"] == float("inf"),
                      timeout=1, what="max on /metrics")
        assert dg.request("PUT", "/rate", "pause")[0] == 200
        time.sleep(1)
    assert dg.returncode == 0, dg.stderr()
    ts = sorted(r.ts for r in kd.read_topic(kafka.bootstrap, "put-rq"))
    before = rate_between(ts, t_put - 2000, t_put)
    after = rate_between(ts, t_put + 1000, t_put + 3000)
    assert abs(before - 1000) <= 1000 * 0.05, before
    assert abs(after - 4000) <= 4000 * 0.05, after
    # Within one second of the PUT, at least the frames of a full second at the new rate
    # minus the old rate's share were made: the change was not late.
    first_second = rate_between(ts, t_put, t_put + 1000)
    assert first_second >= 4000 * 0.9, first_second


def test_every_acked_record_is_in_the_topic_and_nothing_more(kafka):
    """Max rate, stopped with SIGTERM mid-stream: the final report's acked count equals the
    end offsets (fresh topics), nothing failed, and the responses are ~100/101 with the same
    key and body as their request."""
    with kd.Datagen(kafka.bootstrap, "--rate", 0, "--requests-topic", "ack-rq",
                    "--responses-topic", "ack-rs") as dg:
        time.sleep(4)
        m = dg.metrics()
        assert m["kos_datagen_frames_total"] > 10000
        assert m['kos_datagen_records_acked_total{topic="ack-rq"}'] > 0
    assert dg.returncode == 0, dg.stderr()
    rep = dg.report()
    assert rep["failed"] == 0
    assert rep["acked"] == rep["produced"]
    assert total_end(kafka.bootstrap, "ack-rq") == rep["requests"]
    assert total_end(kafka.bootstrap, "ack-rs") == rep["responses"]
    rq = kd.read_topic(kafka.bootstrap, "ack-rq")
    rs = kd.read_topic(kafka.bootstrap, "ack-rs")
    assert len(rq) == rep["requests"] and len(rs) == rep["responses"]
    assert within_sigma(len(rq) - len(rs), len(rq), 1 / 101), (len(rq), len(rs))
    # At this rate keys repeat (ts has ms resolution, there are at most 35 machines), as in the
    # original. Per key, the responses are the requests' bodies with approval true, in order,
    # minus the ~1/101 that got none: a subsequence.
    want = defaultdict(list)
    for q in rq:
        want[q.key].append((q.partition, q.ts,
                            q.value.replace(b'{"approval":false', b'{"approval":true', 1)))
    got = defaultdict(list)
    for r in rs:
        got[r.key].append((r.partition, r.ts, r.value))
    for key, resp in got.items():
        it = iter(want[key])
        assert all(any(x == y for y in it) for x in resp), key
    assert "SIGTERM: stopping" in dg.stderr()


def test_profile_runs_its_schedule_and_ends(kafka):
    t0 = time.monotonic()
    rc, _, err = kd.run(kafka.bootstrap, "--profile", "2000@2s,ramp:6000@2s,0@1s",
                        "--requests-topic", "prof-rq", "--responses-topic", "prof-rs")
    took = time.monotonic() - t0
    assert rc == 0, err
    assert "profile finished" in err
    assert 5 <= took < 15, took
    n = total_end(kafka.bootstrap, "prof-rq")
    assert abs(n - 12000) <= 12000 * 0.03, n  # 2000*2 + (2000+6000)/2*2


def test_manual_rate_ends_the_profile(kafka):
    with kd.Datagen(kafka.bootstrap, "--profile", "300@60s,hold", "--requests-topic",
                    "man-rq", "--responses-topic", "man-rs") as dg:
        kh.wait_until(lambda: dg.metrics()["kos_datagen_target_rate"] == 300, timeout=5,
                      what="profile rate")
        dg.put_rate(700)
        kh.wait_until(lambda: dg.metrics()["kos_datagen_target_rate"] == 700, timeout=1,
                      what="manual rate")
    assert dg.returncode == 0
    assert "manual rate: the profile no longer applies" in dg.stderr()


def test_health_metrics_and_routes(kafka):
    with kd.Datagen(kafka.bootstrap, "--rate", 200, "--requests-topic", "http-rq",
                    "--responses-topic", "http-rs", "--seed", 5) as dg:
        assert dg.request("GET", "/healthz") == (200, "ok\n")
        assert dg.request("GET", "/readyz") == (200, "ok\n")
        kh.wait_until(lambda: dg.metrics()["kos_datagen_achieved_rate"] > 150, timeout=5,
                      what="achieved rate on /metrics")
        st, text = dg.request("GET", "/metrics")
        for name in ("kos_datagen_frames_total", "kos_datagen_records_produced_total",
                     "kos_datagen_records_acked_total", "kos_datagen_records_failed_total",
                     "kos_datagen_target_rate", "kos_datagen_achieved_rate",
                     "kos_datagen_delivery_latency_p50_seconds",
                     "kos_datagen_delivery_latency_p99_seconds",
                     "kos_datagen_delivery_latency_seconds_bucket", 'kos_datagen_info{seed="5"}'):
            assert name in text, name
        m = kd.parse_metrics(text)
        assert m["kos_datagen_target_rate"] == 200
        assert 0 < m["kos_datagen_delivery_latency_p50_seconds"] < 1
        assert m["kos_datagen_delivery_latency_seconds_count"] > 0
        assert dg.request("GET", "/nope")[0] == 404
        assert dg.request("PUT", "/metrics")[0] == 405
        assert dg.request("DELETE", "/rate")[0] == 405
        assert dg.request("PUT", "/rate", "x" * 70000)[0] == 413
    assert dg.returncode == 0
    assert "stats: target 200/s" in dg.stderr()  # the progress line


def test_topics_must_be_co_partitioned(kafka):
    kh.testkit("-b", kafka.bootstrap, "create-topic", "cop-rq", 3)
    kh.testkit("-b", kafka.bootstrap, "create-topic", "cop-rs", 2)
    rc, _, err = kd.run(kafka.bootstrap, "--count", 10, "--requests-topic", "cop-rq",
                        "--responses-topic", "cop-rs")
    assert rc == 1 and "not co-partitioned" in err, err
    # One existing with 6 partitions: the missing one is created with 6, not --partitions.
    kh.testkit("-b", kafka.bootstrap, "create-topic", "six-rq", 6)
    rc, _, err = kd.run(kafka.bootstrap, "--count", 100, "--requests-topic", "six-rq",
                        "--responses-topic", "six-rs", "--partitions", 4)
    assert rc == 0, err
    assert len(kd.end_offsets(kafka.bootstrap, "six-rs", 6)) == 6
    # --no-create-topics refuses a missing topic.
    rc, _, err = kd.run(kafka.bootstrap, "--count", 1, "--requests-topic", "none-rq",
                        "--responses-topic", "none-rs", "--no-create-topics")
    assert rc == 1 and "does not exist" in err, err


def test_pod_name_is_the_client_id_and_changes_the_seed(kafka):
    seeds = set()
    for pod in ("datagen-0", "datagen-1"):
        rc, _, err = kd.run(kafka.bootstrap, "--count", 10, "--requests-topic", "pod-rq",
                            "--responses-topic", "pod-rs", env={"POD_NAME": pod})
        assert rc == 0, err
        assert f"client.id {pod}" in err, err[-2000:]
        seeds.add(err.split("seed ")[1].split()[0])
    assert len(seeds) == 2


def test_sigterm_with_the_broker_gone_exits_in_time_and_reports_failures(kafka):
    """Runs last: it stops the broker. SIGTERM must not wait for queue space or for
    message.timeout.ms: stop, flush within --flush-timeout, purge, report, exit 1."""
    with kd.Datagen(kafka.bootstrap, "--rate", 20000, "--flush-timeout", "3s",
                    "--requests-topic", "gone-rq", "--responses-topic", "gone-rs") as dg:
        time.sleep(2)
        kafka.stop()
        try:
            time.sleep(3)  # the 20000-record queue fills within a second
            m = dg.metrics()
            assert m["kos_datagen_queue_full_total"] > 0
            assert m["kos_datagen_inflight_records"] > 0
            t0 = time.monotonic()
            dg.signal(signal.SIGTERM)
            rc = dg.wait(30)
            took = time.monotonic() - t0
        finally:
            kafka.start()
    assert rc == 1, dg.stderr()
    assert took < 3 + 5, took
    rep = dg.report()
    assert rep["failed"] > 0 and rep["acked"] + rep["failed"] == rep["produced"], rep
    assert "records failed for good" in dg.stderr()
