"""Runs kos-processor for tests and benchmarks, and checks what it wrote: the expected final
session per key is computed from the input topics themselves (the original topology in a few
lines of Python), the actual one is the last SESSIONS record of each key. Standard library only.

    with kos_processor.Processor(kafka.bootstrap, "-g", "g1", env={"POD_NAME": "p1"}) as p:
        p.wait_ready()
        print(p.metrics()["kos_processor_joins_total"])
    want = expected_sessions(kafka.bootstrap, "GAME-FRAME-RQ", "GAME-FRAME-RS")
    got = final_sessions(kafka.bootstrap, "SESSIONS")
    assert compare(want, got) == []
"""

import collections
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import kos_datagen as kd

REPO_ROOT = Path(__file__).resolve().parents[2]


def processor_path():
    p = kd.build_dir() / "processor" / "kos-processor"
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(f"kos-processor not built at {p} (set KOS_BUILD_DIR)")
    return str(p)


# --- the hit codec (the original's format, common/frame.h), for the expected side ------------

_KEYS = {0xE3: "X", 0xC3: "O"}
_DIRS = {0x8A: "UP", 0x8C: "DOWN", 0x8D: "LEFT", 0x8E: "RIGHT"}
_IMPACTS = {0x72: "Fatal", 0x4F: "Critical", 0xA2: "Special", 0xB1: "Direct", 0x1F: "Missed"}
_LEVELS = {0xF9: "Pro", 0xE9: "Inter", 0xD9: "NewBie"}
_GAMES = {0xA5: "Neowave", 0xB5: "NeoBlood", 0xC5: "HowlingBlood", 0xD5: "MaximumImpact",
          0xE5: "HeatofBattleFromParadise"}


def decode_hit(text):
    """A hex string -> the Hit dict as SESSIONS carries it, or None if it is not a hit."""
    try:
        b = bytes.fromhex(text)
    except ValueError:
        return None
    if len(text) % 2 or not re.fullmatch(r"[0-9a-fA-F]*", text):
        return None
    i = 0

    def take():
        nonlocal i
        if i >= len(b):
            raise IndexError
        i += 1
        return b[i - 1]

    try:
        key = _KEYS[take()]
        d = take()
        direction = None
        if d == 0xFF:
            direction = _DIRS[take()]
        elif d != 0:
            return None
        kind = _IMPACTS[take()]
        impact = 0 if kind == "Missed" else take()
        dk = take()
        double_key = None
        if dk == 0xFF:
            double_key = _KEYS[take()]
        elif dk != 0:
            return None
        level = _LEVELS[take()]
        game = _GAMES[take()]
    except (IndexError, KeyError):
        return None
    if i != len(b):
        return None
    return {"impact": impact, "key": key, "doubleKey": double_key, "direction": direction,
            "impactType": kind, "level": level, "game": game}


def _hit_key(h):
    return json.dumps(h, sort_keys=True)


def _valid_header(key):
    if not key or len(key) > 1024:
        return False
    try:
        h = json.loads(key)
    except ValueError:
        return False
    return (isinstance(h, dict) and isinstance(h.get("ts"), int) and h["ts"] >= 0
            and isinstance(h.get("machine"), str) and 0 < len(h["machine"]) <= 32
            and h.get("zone") in ("EU", "US", "ZG", "AU"))


def _body(value):
    try:
        b = json.loads(value)
    except ValueError:
        return None
    if (not isinstance(b, dict) or "approval" not in b or not isinstance(b.get("bytes"), list)
            or not all(isinstance(s, str) for s in b["bytes"])
            or not (b["approval"] is None or isinstance(b["approval"], bool))):
        return None
    return b


def expected_sessions(bootstrap, rq_topic, rs_topic, window_ms=3000, requests=None,
                      responses=None):
    """{key bytes: Counter of hits} that the original topology ends with: every request /
    response pair with equal key bytes and |ts difference| <= window contributes the request's
    decodable hits. Bad records (as kos-processor judges them) are skipped."""
    rq = requests if requests is not None else kd.read_topic(bootstrap, rq_topic)
    rs = responses if responses is not None else kd.read_topic(bootstrap, rs_topic)
    by_key = collections.defaultdict(lambda: ([], []))
    for side, records in ((0, rq), (1, rs)):
        for r in records:
            if not _valid_header(r.key):
                continue
            b = _body(r.value)
            if b is None:
                continue
            hits = [h for h in map(decode_hit, b["bytes"]) if h is not None]
            by_key[(r.partition, r.key)][side].append((r.ts, hits))
    want = {}
    for (_, key), (reqs, resps) in by_key.items():
        c = collections.Counter()
        for ts_q, hits in reqs:
            for ts_s, _ in resps:
                if abs(ts_q - ts_s) <= window_ms:
                    c.update(_hit_key(h) for h in hits)
        if c:
            want[key] = want.get(key, collections.Counter()) + c
    return want


def read_sessions(bootstrap, topic, read_committed=False, timeout=180):
    """Every SESSIONS record (kd.Record), optionally as a read_committed consumer sees it."""
    args = ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
            "-f", "%p\t%o\t%T\t%k\t%s\n"]
    if read_committed:
        args[1:1] = ["-X", "isolation.level=read_committed"]
    p = subprocess.run(args, capture_output=True, timeout=timeout, check=True)
    out = []
    for line in p.stdout.split(b"\n"):
        if line:
            part, off, ts, key, value = line.split(b"\t", 4)
            out.append(kd.Record(int(part), int(off), int(ts), key, value))
    return out


def final_sessions(bootstrap, topic, read_committed=False, records=None):
    """{key bytes: Counter of hits} of the last record of each key (by partition offset)."""
    recs = records if records is not None else read_sessions(bootstrap, topic, read_committed)
    last = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        last[r.key] = r.value
    return {k: collections.Counter(_hit_key(h) for h in json.loads(v)["hits"])
            for k, v in last.items()}


def duplicates(records):
    """Keys whose successive SESSIONS values do not strictly grow (a session emitted twice),
    as [(key, hit counts in offset order)]."""
    seq = collections.defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        seq[r.key].append(len(json.loads(r.value)["hits"]))
    return [(k, s) for k, s in seq.items() if any(b <= a for a, b in zip(s, s[1:]))]


def compare(want, got, limit=5):
    """Differences between expected and actual final sessions, as readable strings."""
    diffs = []
    for k in want.keys() - got.keys():
        diffs.append(f"missing session {k[:80]!r} ({sum(want[k].values())} hits expected)")
    for k in got.keys() - want.keys():
        diffs.append(f"unexpected session {k[:80]!r} ({sum(got[k].values())} hits)")
    for k in want.keys() & got.keys():
        if want[k] != got[k]:
            diffs.append(f"session {k[:80]!r}: {sum(got[k].values())} hits, expected "
                         f"{sum(want[k].values())}")
    diffs.sort()
    if len(diffs) > limit:
        diffs = diffs[:limit] + [f"... {len(diffs) - limit} more"]
    return diffs


class Processor:
    """kos-processor on 127.0.0.1 with --http-port 0 (unless http=False). Arguments after
    BOOTSTRAP are passed as they are. As a context manager: started on entry; on exit SIGTERM
    (if still running) and wait."""

    def __init__(self, bootstrap, *args, http=True, env=None, name="processor"):
        self.cmd = [processor_path(), "-b", bootstrap, "--stats-interval", "2s",
                    *map(str, args)]
        if http:
            self.cmd += ["--http-port", "0", "--bind-address", "127.0.0.1"]
        else:
            self.cmd += ["--no-http"]
        self.http = http
        self.name = name
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._port_seen = threading.Event()

    def start(self, timeout=60):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        if self.http and (not self._port_seen.wait(timeout) or self.port is None):
            self.terminate()
            raise AssertionError(f"{self.name} printed no port:\n{self.stderr()}")
        return self

    def _read_stdout(self):
        for line in self.proc.stdout:
            m = re.match(r"listening on port (\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._port_seen.set()
        self._port_seen.set()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._lock:
                self.stderr_lines.append(line)

    def stderr(self):
        with self._lock:
            return "".join(self.stderr_lines)

    def request(self, method, path, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def metrics(self):
        st, body = self.request("GET", "/metrics")
        assert st == 200, (st, body)
        return kd.parse_metrics(body)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.name} not ready in {timeout}s:\n{self.stderr()}")

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not exit in {timeout}s:\n{self.stderr()}")
        for t in self._threads:
            t.join(5)
        self._save_log()
        return rc

    def _save_log(self):
        """With KOS_TEST_LOGDIR set, keeps each process's stderr there as NAME.log."""
        d = os.environ.get("KOS_TEST_LOGDIR")
        if d:
            Path(d).mkdir(parents=True, exist_ok=True)
            (Path(d) / f"{self.name}.log").write_text(self.stderr())

    def terminate(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout) if self.proc else None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        return self.wait(30)

    @property
    def returncode(self):
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.terminate()


def run(bootstrap, *args, timeout=60, env=None):
    """Runs kos-processor to completion without HTTP; returns (returncode, stdout, stderr)."""
    p = subprocess.run([processor_path(), "-b", bootstrap, "--no-http", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def group_lag(bootstrap, group):
    """Sum of the group's lag over its committed partitions (ConsumerGroupCommand), and the rows."""
    import kos_harness as kh
    rows = kh.cgc_describe_group(bootstrap, group)
    return sum(r["lag"] or 0 for r in rows), rows


def wait_caught_up(bootstrap, group, topics, partitions, timeout=120):
    """Waits until GROUP has committed the end offset of every partition of TOPICS."""
    ends = {(t, p): e for t in topics for p, e in kd.end_offsets(bootstrap, t, partitions).items()}

    def done():
        import kos_harness as kh
        rows = kh.cgc_describe_group(bootstrap, group)
        got = {(r["topic"], r["partition"]): r["current_offset"] for r in rows}
        return all((got.get(k) or 0) >= e for k, e in ends.items())

    import kos_harness as kh
    kh.wait_until(done, timeout=timeout, interval=1.0, what=f"group {group} to commit {ends}")


# --- the Kafka Streams reference (tests/streams-ref, another engineer's) ---------------------

STREAMS_REF = REPO_ROOT / "tests" / "streams-ref" / "run.sh"


def streams_ref_missing():
    """Why the Kafka Streams reference cannot run here, or None when it can."""
    if not os.access(STREAMS_REF, os.X_OK):
        return f"{STREAMS_REF} does not exist yet"
    jar = STREAMS_REF.parent / "target" / "kos-streams-ref.jar"
    if not jar.exists() and not shutil.which("mvn"):
        return "the reference is not built and mvn is not installed"
    return None


STATS_RE = re.compile(r"stats in=(\d+) out=(\d+) joined=(\d+) hits=(\d+) bad_hits=(\d+) "
                      r"dropped=(\d+)")


class StreamsRef:
    """tests/streams-ref/run.sh as a child process: 'ready' on stdout once RUNNING, a stats line
    on stderr every second. ARGS are run.sh options (--app-id, --rq, --eos, ...)."""

    def __init__(self, bootstrap, *args, env=None, taskset=None):
        self.cmd = [str(STREAMS_REF), "--bootstrap", bootstrap, *map(str, args)]
        if taskset:
            self.cmd = ["taskset", "-c", str(taskset), *self.cmd]
        self.env = dict(os.environ, **(env or {}))
        self.ready = threading.Event()
        self.lines = []
        self._lock = threading.Lock()
        self.proc = None

    def start(self, timeout=300):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"streams-ref not ready:\n{self.stderr()[-3000:]}")
        return self

    def _read_stdout(self):
        for line in self.proc.stdout:
            if line.strip() == "ready":
                self.ready.set()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line)

    def stderr(self):
        with self._lock:
            return "".join(self.lines)

    def stats(self):
        """The latest stats line as a dict (in, out, joined, hits, bad_hits, dropped)."""
        m = None
        with self._lock:
            for line in reversed(self.lines):
                m = STATS_RE.search(line)
                if m:
                    break
        if not m:
            return None
        return dict(zip(("in", "out", "joined", "hits", "bad_hits", "dropped"),
                        map(int, m.groups())))

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
