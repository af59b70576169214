"""Runs kos-datagen for tests and benchmarks, talks to its HTTP port, and reads what it wrote
back from Kafka with kcat. Standard library only.

    with kos_datagen.Datagen(kafka.bootstrap, "--rate", 1000, "--requests-topic", "rq") as dg:
        dg.put_rate(5000)
        print(dg.metrics()["kos_datagen_target_rate"])
    rc = dg.returncode            # after the with block (SIGTERM, then wait)
    rows = read_topic(kafka.bootstrap, "rq")   # [Record(partition, offset, ts, key, value)]
"""

import collections
import http.client
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

Record = collections.namedtuple("Record", "partition offset ts key value")


def build_dir():
    return Path(os.environ.get("KOS_BUILD_DIR") or REPO_ROOT / "build")


def datagen_path():
    p = build_dir() / "datagen" / "kos-datagen"
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(f"kos-datagen not built at {p} (set KOS_BUILD_DIR)")
    return str(p)


def murmur2(data):
    """Kafka's Utils.murmur2 (Java DefaultPartitioner), as an unsigned 32-bit value."""
    m, length = 0x5BD1E995, len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rem = length & ~3, length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key, partitions):
    """The partition Java's DefaultPartitioner picks for a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def read_topic(bootstrap, topic, timeout=120):
    """Every record of TOPIC (from the beginning to the current end) via kcat."""
    p = subprocess.run(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
         "-f", "%p\t%o\t%T\t%k\t%s\n"],
        capture_output=True, timeout=timeout, check=True)
    out = []
    for line in p.stdout.split(b"\n"):
        if not line:
            continue
        part, off, ts, key, value = line.split(b"\t", 4)
        out.append(Record(int(part), int(off), int(ts), key, value))
    return out


def end_offsets(bootstrap, topic, partitions):
    """{partition: high watermark} via kcat -Q (timestamp -1 = end)."""
    args = ["kcat", "-b", bootstrap, "-Q"]
    for p in range(partitions):
        args += ["-t", f"{topic}:{p}:-1"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    ends = {}
    for m in re.finditer(r"\[(\d+)\]\s+offset\s+(-?\d+)", out):
        ends[int(m.group(1))] = int(m.group(2))
    if len(ends) != partitions:
        raise RuntimeError(f"kcat -Q gave {ends} for {topic}: {out}")
    return ends


def parse_metrics(text):
    """Prometheus text -> {name or name{labels}: float}."""
    vals = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, v = line.rpartition(" ")
        vals[name] = float(v.replace("+Inf", "inf"))
    return vals


DONE_RE = re.compile(r"done: (\d+) frames in ([\d.]+) s .* produced (\d+) \(requests (\d+), "
                     r"responses (\d+)\) acked (\d+) \((\d+) bytes\) failed (\d+)")


def parse_report(m):
    keys = ("frames", "seconds", "produced", "requests", "responses", "acked", "acked_bytes",
            "failed")
    return {k: float(v) if k == "seconds" else int(v) for k, v in zip(keys, m.groups())}


def report_of(stderr):
    """The final 'done:' figures of a finished run's stderr, or None."""
    m = DONE_RE.search(stderr)
    return parse_report(m) if m else None


class Datagen:
    """kos-datagen with --http-port 0 on 127.0.0.1. Arguments after BOOTSTRAP are passed as
    they are (converted with str). As a context manager: started on entry; on exit SIGTERM
    (if still running) and wait."""

    def __init__(self, bootstrap, *args, http=True, env=None):
        self.cmd = [datagen_path(), "-b", bootstrap, *map(str, args)]
        if http:
            self.cmd += ["--http-port", "0", "--bind-address", "127.0.0.1"]
        self.http = http
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.port = None
        self.stderr_lines = []
        self._lock = threading.Lock()
        self._port_seen = threading.Event()

    def start(self, wait_ready=True, timeout=60):
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=self.env)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._threads:
            t.start()
        if self.http:
            if not self._port_seen.wait(timeout) or self.port is None:
                self.terminate()
                raise AssertionError(f"kos-datagen printed no port:\n{self.stderr()}")
            if wait_ready:
                self.wait_ready(timeout)
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

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"kos-datagen exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if self.request("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"kos-datagen not ready in {timeout}s:\n{self.stderr()}")

    def request(self, method, path, body=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read().decode()
        finally:
            c.close()

    def put_rate(self, rate):
        st, body = self.request("PUT", "/rate", str(rate))
        if st != 200:
            raise AssertionError(f"PUT /rate {rate}: {st} {body}")
        return body

    def metrics(self):
        st, body = self.request("GET", "/metrics")
        assert st == 200, (st, body)
        return parse_metrics(body)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kos-datagen did not exit in {timeout}s:\n{self.stderr()}")
        for t in self._threads:
            t.join(5)
        return rc

    def terminate(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout) if self.proc else None

    @property
    def returncode(self):
        return self.proc.returncode if self.proc else None

    def report(self):
        """The final 'done:' figures as a dict (after exit)."""
        m = DONE_RE.search(self.stderr())
        if not m:
            raise AssertionError(f"no final report in stderr:\n{self.stderr()}")
        return parse_report(m)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.terminate()


def run(bootstrap, *args, timeout=120, env=None):
    """Runs kos-datagen to completion without HTTP; returns (returncode, stdout, stderr)."""
    p = subprocess.run([datagen_path(), "-b", bootstrap, "--no-http", *map(str, args)],
                       capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr
