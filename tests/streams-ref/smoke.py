#!/usr/bin/python3
"""Smoke run of kos-streams-ref against a real broker (tests/harness): hand-made request/response
records produced with kcat, the sessions read back from SESSIONS with kcat.

Runs the app twice on the same input, at-least-once with the default record cache and then
exactly-once-v2 with the cache off (the second run also reads the whole input as a backlog), each
into its own output topic, and checks the last session of every key. Exit 0 on success.

kcat cannot set a record's timestamp, so records carry kcat's produce time: the "too far apart"
case is made by producing a response 3.5 s of wall time after its request. kcat's default
partitioner (consistent_random) is not Java's: -X partitioner=murmur2_random puts equal keys on
the same partition as Kafka Streams' own producer would.

Usage: /usr/bin/python3 tests/streams-ref/smoke.py [--keep DIR]
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[0] / "harness"))
import kos_harness as kh  # noqa: E402

RQ, RS = "GAME-FRAME-RQ", "GAME-FRAME-RS"
PARTITIONS = 4

X_MISSED = "e3001f00d9b5"
O_CRIT = "c3ff8d4f14ffc3d9b5"
O_DIRECT = "c3ff8ab13000e9c5"
H = {
    X_MISSED: {"impact": 0, "key": "X", "doubleKey": None, "direction": None, "impactType": "Missed",
               "level": "NewBie", "game": "NeoBlood"},
    O_CRIT: {"impact": 20, "key": "O", "doubleKey": "O", "direction": "LEFT", "impactType": "Critical",
             "level": "NewBie", "game": "NeoBlood"},
    O_DIRECT: {"impact": 48, "key": "O", "doubleKey": None, "direction": "UP", "impactType": "Direct",
               "level": "Inter", "game": "HowlingBlood"},
}


def log(msg):
    print(f"smoke: {msg}", flush=True)


def key(ts, machine, zone="EU"):
    return f'{{"ts":{ts},"machine":"{machine}","zone":"{zone}"}}'


def body(approval, *hexes):
    return json.dumps({"approval": approval, "bytes": list(hexes)}, separators=(",", ":"))


def session_json(*hexes):
    """The exact bytes the C side writes for a session of these hits (common/frame.c)."""
    hits = ",".join(json.dumps(H[h], separators=(",", ":")) for h in hexes)
    return '{"hits":[' + hits + "]}"


def create_topic(bootstrap, name):
    try:
        kh.testkit("-b", bootstrap, "create-topic", name, PARTITIONS)
    except FileNotFoundError:  # kos-testkit not built: Kafka's own tool
        kh.kafka_sh("topics", "--bootstrap-server", bootstrap, "--create", "--if-not-exists",
                    "--topic", name, "--partitions", str(PARTITIONS))


def produce(bootstrap, topic, records):
    """records: [(key, value)], one kcat call, keys hashed like Java's default partitioner."""
    data = "".join(f"{k}|{v}\n" for k, v in records)
    subprocess.run(["kcat", "-b", bootstrap, "-P", "-t", topic, "-K", "|",
                    "-X", "partitioner=murmur2_random"],
                   input=data, text=True, check=True, timeout=60)


def consume(bootstrap, topic, read_committed):
    """All records of TOPIC as [(partition, key, value)] (kcat -e: stops at the end)."""
    cmd = ["kcat", "-b", bootstrap, "-C", "-t", topic, "-e", "-q", "-f", "%p\t%k\t%s\n"]
    if read_committed:
        cmd += ["-X", "isolation.level=read_committed"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    rows = []
    for line in out.splitlines():
        p, k, v = line.split("\t")
        rows.append((int(p), k, v))
    return rows


def partitions_of(bootstrap, topic):
    return {k: p for p, k, _ in consume(bootstrap, topic, False)}


def input_cases(bootstrap):
    """Produces the input; returns ({key: expected last session value}, keys that must not appear, count)."""
    now = int(time.time() * 1000)
    expect, absent = {}, []
    n = 0

    # A: request then response, two hits
    a = key(now, "000001")
    # B: one undecodable string (dropped), one hit; response carries other bytes (joiner keeps the request's)
    b = key(now, "000002", "US")
    # C: request without response: never joins
    c = key(now, "000003", "ZG")
    # D: response first, then request
    d = key(now, "000004", "AU")
    # F: one request, two responses: two joined pairs, so the session has the hits twice
    f = key(now, "000006")
    # G: not a body: dropped by the deserialization handler, the app goes on; its response never joins
    g = key(now, "000007")

    produce(bootstrap, RS, [(d, body(True, O_DIRECT))])
    produce(bootstrap, RQ, [
        (a, body(False, X_MISSED, O_CRIT)),
        (b, body(False, "zz", O_DIRECT.upper())),
        (c, body(False, O_CRIT)),
        (d, body(False, O_DIRECT)),
        (f, body(False, O_CRIT)),
        (g, "not json"),
    ])
    produce(bootstrap, RS, [
        (a, body(True, X_MISSED, O_CRIT)),
        (b, body(True, X_MISSED)),
        (f, body(True, O_CRIT)),
        (f, body(True)),
        (g, body(True, O_CRIT)),
    ])
    n += 1 + 6 + 5
    expect[a] = session_json(X_MISSED, O_CRIT)
    expect[b] = session_json(O_DIRECT)
    expect[d] = session_json(O_DIRECT)
    expect[f] = session_json(O_CRIT, O_CRIT)
    absent += [c, g]

    # E: response 3.5 s (record time) after its request: outside the 3 s window
    e = key(now, "000005")
    produce(bootstrap, RQ, [(e, body(False, O_CRIT))])
    time.sleep(3.5)
    produce(bootstrap, RS, [(e, body(True, O_CRIT))])
    n += 2
    absent.append(e)
    return expect, absent, n


class App:
    """run.sh as a child process; stdout lines are watched for 'ready', stderr goes to a file."""

    def __init__(self, bootstrap, app_id, out_topic, extra, errlog):
        self.errlog = errlog
        self.err = open(errlog, "w")
        self.t0 = time.monotonic()
        self.ready_s = None
        self.proc = subprocess.Popen(
            [str(HERE / "run.sh"), "--bootstrap", bootstrap, "--app-id", app_id, "--out", out_topic, *extra],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.err, text=True)
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.strip() == "ready" and self.ready_s is None:
                self.ready_s = time.monotonic() - self.t0

    def stats(self):
        """The last 'stats ...' line of stderr as a dict of its key=value fields."""
        last = None
        for line in Path(self.errlog).read_text(errors="replace").splitlines():
            if line.startswith("stats "):
                last = line
        if last is None:
            return {}
        return dict(f.split("=", 1) for f in last.split()[1:] if "=" in f)

    def wait_ready(self, timeout=120):
        kh.wait_until(lambda: self.ready_s is not None or self.proc.poll() is not None, timeout, what="ready")
        if self.ready_s is None:
            raise AssertionError(f"app exited ({self.proc.returncode}) before ready:\n{self.tail()}")
        return self.ready_s

    def stop(self, timeout=60):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"app did not stop within {timeout}s of SIGTERM")
        self.err.close()
        return rc, time.monotonic() - t0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n=30):
        return "".join(Path(self.errlog).read_text(errors="replace").splitlines(True)[-n:])


def start_app(bootstrap, workdir, mode, extra):
    out_topic = f"SESSIONS-{mode}"
    create_topic(bootstrap, out_topic)
    app = App(bootstrap, f"KOS-REF-SMOKE-{mode}", out_topic, extra, workdir / f"app-{mode}.err")
    try:
        ready_s = app.wait_ready()
        log(f"[{mode}] ready {ready_s:.1f}s after start")
        return ready_s, app, out_topic
    except BaseException:
        app.kill()
        raise


def verify(bootstrap, app, mode, out_topic, n_input, expect, absent, read_committed):
    def done():
        last = {}
        for _, k, v in consume(bootstrap, out_topic, read_committed):
            last[k] = v
        st = app.stats()
        return last if (int(st.get("in", -1)) >= n_input and all(k in last for k in expect)
                        and last == {**last, **expect}) else None

    t0 = time.monotonic()
    try:
        last = kh.wait_until(done, timeout=60, interval=0.5, what=f"[{mode}] sessions")
    except AssertionError:
        got = {k: v for _, k, v in consume(bootstrap, out_topic, read_committed)}
        log(f"[{mode}] got: {json.dumps(got, indent=1)}\nstats: {app.stats()}\n{app.tail()}")
        raise
    for k in absent:
        assert k not in last, f"[{mode}] unexpected session for {k}: {last[k]}"
    assert set(last) == set(expect), f"[{mode}] keys {sorted(last)} != {sorted(expect)}"
    # the sessions' keys are the input key bytes, on the partition of the input records
    parts = partitions_of(bootstrap, RQ)
    for p, k, _ in consume(bootstrap, out_topic, read_committed):
        assert parts[k] == p, f"[{mode}] {k} on partition {p} of {out_topic}, {parts[k]} of {RQ}"
    log(f"[{mode}] {len(last)} sessions as expected, {time.monotonic() - t0:.1f}s after the input; "
        f"stats {app.stats()}")
    time.sleep(1.2)  # one more stats line: nothing else arrives
    st = app.stats()
    assert int(st["in"]) == n_input, st
    assert int(st["dropped"]) >= 1, st  # the "not json" record


def main():
    keep = None
    if len(sys.argv) == 3 and sys.argv[1] == "--keep":
        keep = Path(sys.argv[2])
    elif len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    t_all = time.monotonic()
    t0 = time.monotonic()
    subprocess.run([str(HERE / "run.sh"), "--build-only"], check=True, timeout=900)
    log(f"build (or up-to-date check) {time.monotonic() - t0:.1f}s")

    tmp = tempfile.TemporaryDirectory(prefix="kos-ref-smoke-") if keep is None else None
    workdir = Path(tmp.name) if tmp else keep
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.monotonic()
        with kh.KafkaBroker(workdir / "kafka") as kafka:
            bootstrap = kafka.bootstrap
            for t in (RQ, RS):
                create_topic(bootstrap, t)
            log(f"broker {bootstrap} up with topics in {time.monotonic() - t0:.1f}s")

            # at-least-once, default cache: the app is live while the input arrives
            ready_s, app, out_topic = start_app(bootstrap, workdir, "alos", [])
            try:
                expect, absent, n_input = input_cases(bootstrap)
                verify(bootstrap, app, "alos", out_topic, n_input, expect, absent, False)
            except BaseException:
                app.kill()
                raise
            rc, stop_s = app.stop()
            log(f"[alos] SIGTERM -> exit {rc} in {stop_s:.1f}s")
            assert rc in (0, 143, -signal.SIGTERM), rc
            assert "final" in app.tail(5), app.tail()

            # exactly-once v2, cache off: the same input as a backlog
            _, app, out_topic = start_app(bootstrap, workdir, "eos", ["--eos", "--cache-bytes", "0"])
            try:
                verify(bootstrap, app, "eos", out_topic, n_input, expect, absent, True)
                # with the cache off every update is a record: F's session was emitted as 1 then 2 hits
                f_updates = [v for _, k, v in consume(bootstrap, out_topic, True) if '"000006"' in k]
                assert f_updates == [session_json(O_CRIT), session_json(O_CRIT, O_CRIT)], f_updates
            except BaseException:
                app.kill()
                raise
            rc, stop_s = app.stop()
            log(f"[eos] SIGTERM -> exit {rc} in {stop_s:.1f}s")
            assert rc in (0, 143, -signal.SIGTERM), rc
        log(f"ok in {time.monotonic() - t_all:.1f}s")
        return 0
    finally:
        if tmp:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
