"""Connection floods against built programs (issue 9, item 2). From one address (127.0.0.1),
a flood process keeps N connections open and re-opens each one the server closes, while
  * a "trusted" client with the front-proxy certificate (the aggregator: one address, many
    connections) makes requests on kept-alive connections and on new ones, and
  * a probe (kubelet style: a new connection per probe, no client certificate) polls /healthz;
every one of their requests must be answered, with p99 latency <= 100 ms (the ASan+UBSan
build included). The adapter's open descriptors are sampled during the flood: the
per-address limit must bound them.
The same for the plain-HTTP port of kos-processor and kos-datagen (/healthz and /metrics).
No Kafka is needed: the programs serve HTTP before (and while) they wait for a broker."""

import json
import os
import ssl
import subprocess
import sys
import threading
import time
import http.client
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_datagen as kd  # noqa: E402
import kos_processor as kp  # noqa: E402


# The defaults the README documents (--max-connections-per-address; the plain-HTTP ports').
ADAPTER_PER_ADDRESS = 32
HTTPD_PER_ADDRESS = 16
# The bound, under the ASan+UBSan build too: TLS and the event loop are OpenSSL's and
# libmicrohttpd's (not instrumented), and a guard slow enough to miss it there is a finding.
P99_LIMIT_S = 0.100
FLOOD_S = 8
NOWHERE = "127.0.0.1:1"  # no broker: the programs keep serving HTTP while they wait


def p99(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


def start_flood(port, count, mode, src, rate, duration=FLOOD_S):
    return subprocess.Popen(
        [sys.executable, str(HERE / "flood.py"), "--port", str(port), "--count", str(count),
         "--mode", mode, "--src", src, "--rate", str(rate), "--duration", str(duration)],
        stdout=subprocess.PIPE, text=True)


def finish_flood(proc):
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    return json.loads(out.strip().splitlines()[-1])


class Poller(threading.Thread):
    """Calls fn() every `every` seconds until stopped; records (ok, seconds, detail)."""

    def __init__(self, fn, every):
        super().__init__(daemon=True)
        self.fn, self.every = fn, every
        self.results = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                detail = self.fn()
                ok = detail == 200
            except Exception as e:  # noqa: BLE001 - a failed request is a result
                ok, detail = False, repr(e)
            self.results.append((ok, time.monotonic() - t0, detail))
            self.stop.wait(self.every)

    def check(self, what):
        assert self.results, f"{what}: no requests made"
        bad = [r for r in self.results if not r[0]]
        lat = [r[1] for r in self.results]
        print(f"{what}: {len(self.results)} requests, p50 {sorted(lat)[len(lat) // 2] * 1000:.1f}"
              f" ms, p99 {p99(lat) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms, failed {len(bad)}")
        assert not bad, f"{what}: {len(bad)} of {len(self.results)} failed, e.g. {bad[:3]}"
        assert p99(lat) <= P99_LIMIT_S, \
            f"{what}: p99 {p99(lat) * 1000:.1f} ms > {P99_LIMIT_S * 1000:.0f} ms"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class FdSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.samples, self.stop = pid, [], threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            try:
                self.samples.append(fd_count(self.pid))
            except FileNotFoundError:
                return


# ---- kos-adapter --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    certs = ka.make_certs(tmp_path_factory.mktemp("certs"))
    ad = ka.Adapter(certs, NOWHERE, args=["--no-kube"])
    ad.start(wait_ready=False)
    ka_ready = time.monotonic() + 10
    while ad.get("/healthz", cert=None, raw=True)[0] != 200:
        assert time.monotonic() < ka_ready, ad.stderr()
        time.sleep(0.05)
    yield ad
    rc = ad.stop()
    assert rc == 0, ad.stderr()


class TrustedClient:
    """The aggregator: front-proxy certificate, X-Remote-User, a pool of kept-alive
    connections (opened before the flood, as the aggregator's are) plus a new connection
    for every 5th request."""

    PATH = "/apis/custom.metrics.k8s.io/v1beta2"

    def __init__(self, ad, pool=4):
        self.ad = ad
        self.ctx = ad.context("front-proxy-client")
        self.pool = [self._new() for _ in range(pool)]
        self.n = 0

    def _new(self):
        return http.client.HTTPSConnection("127.0.0.1", self.ad.port, context=self.ctx, timeout=5)

    def __call__(self):
        self.n += 1
        fresh = self.n % 5 == 0
        conn = self._new() if fresh else self.pool[self.n % len(self.pool)]
        try:
            conn.request("GET", self.PATH, headers={"X-Remote-User": "aggregated-user",
                                                    "X-Remote-Group": "system:masters"})
            r = conn.getresponse()
            r.read()
            return r.status
        except Exception:
            conn.close()
            if not fresh:  # a kept-alive connection was dropped: that is a failure too
                self.pool[self.n % len(self.pool)] = self._new()
            raise
        finally:
            if fresh:
                conn.close()

    def warm(self):
        for _ in range(len(self.pool) * 2):
            assert self() == 200


def probe(ad):
    ctx = ssl.create_default_context(cafile=str(ad.certs / "ca.crt"))
    conn = http.client.HTTPSConnection("127.0.0.1", ad.port, context=ctx, timeout=5)
    try:
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def flood_adapter(ad, count, mode, src, rate):
    trusted = TrustedClient(ad)
    trusted.warm()
    fds_before = fd_count(ad.proc.pid)
    flood = start_flood(ad.port, count, mode, src, rate)
    time.sleep(1.0)  # let the flood build up before measuring
    t, p = Poller(trusted, 0.01), Poller(lambda: probe(ad), 0.05)
    fds = FdSampler(ad.proc.pid)
    for th in (t, p, fds):
        th.start()
    stats = finish_flood(flood)
    fds.samples.append(fd_count(ad.proc.pid))
    for th in (t, p, fds):
        th.stop.set()
        th.join(10)
    what = f"{mode} flood x{count} from {src}, re-open rate {rate or 'unbounded'}"
    print(f"{what}: {stats}; adapter fds before {fds_before}, during max {max(fds.samples)}")
    t.check(f"front-proxy client ({what})")
    p.check(f"/healthz probe ({what})")
    # Only the per-address limit's worth of the flood stays open, plus closes in progress
    # (before: every socket of the flood, 1000+).
    assert max(fds.samples) <= fds_before + ADAPTER_PER_ADDRESS + 100, fds.samples
    assert stats["closed_by_server"] > 0
    return stats


# The flood shares the probe's and the aggregator's address: it holds its sockets and
# re-opens each one closed, 1000 a second. (Re-opening as fast as it can from the very
# address of the probes is a connection-rate flood that no admission rule can tell from the
# probes before they authenticate; that case is the one from another address below.)
def test_adapter_1000_idle_tcp_connections(adapter):
    flood_adapter(adapter, 1000, "tcp", "127.0.0.1", 1000)


def test_adapter_tls_idle_flood_10x_per_address_limit(adapter):
    flood_adapter(adapter, 10 * ADAPTER_PER_ADDRESS, "tls", "127.0.0.1", 1000)


# An attacker pod has an address of its own: there, re-opening as fast as it can costs the
# others nothing.
def test_adapter_unpaced_flood_from_another_address(adapter):
    flood_adapter(adapter, 10 * ADAPTER_PER_ADDRESS, "tcp", "127.0.0.2", 0)


# ---- kos-processor and kos-datagen (common/httpd.c) ----------------------------------------

def plain_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def flood_plain(port, pid, count, mode, src, rate):
    fds_before = fd_count(pid)
    flood = start_flood(port, count, mode, src, rate)
    time.sleep(1.0)
    h = Poller(lambda: plain_get(port, "/healthz"), 0.05)
    m = Poller(lambda: plain_get(port, "/metrics"), 0.05)
    fds = FdSampler(pid)
    for th in (h, m, fds):
        th.start()
    stats = finish_flood(flood)
    fds.samples.append(fd_count(pid))
    for th in (h, m, fds):
        th.stop.set()
        th.join(10)
    what = f"{mode} flood x{count} from {src}, re-open rate {rate or 'unbounded'}"
    print(f"{what}: {stats}; fds before {fds_before}, during max {max(fds.samples)}")
    h.check(f"/healthz ({what})")
    m.check(f"/metrics ({what})")
    assert max(fds.samples) <= fds_before + HTTPD_PER_ADDRESS + 60, fds.samples
    return stats


# 64 idle sockets were enough before; 200 is over both that and 10x the per-address limit.
FLOODS = [("tcp", "127.0.0.1", 1000), ("http", "127.0.0.1", 1000), ("tcp", "127.0.0.2", 0)]


def stop(proc):
    # Waiting for a broker that does not exist, they would honour SIGTERM only once
    # --connect-timeout is over; the HTTP port is what is under test here.
    proc.kill()
    proc.wait(30)


@pytest.mark.parametrize("mode,src,rate", FLOODS)
def test_processor_http_port_flood(mode, src, rate):
    p = kp.Processor(NOWHERE, "--connect-timeout", "10m")
    p.start()
    try:
        assert plain_get(p.port, "/healthz") == 200
        flood_plain(p.port, p.proc.pid, 200, mode, src, rate)
    finally:
        stop(p.proc)


@pytest.mark.parametrize("mode,src,rate", FLOODS)
def test_datagen_http_port_flood(mode, src, rate):
    d = kd.Datagen(NOWHERE, "--connect-timeout", "1h")
    d.start(wait_ready=False)
    try:
        assert plain_get(d.port, "/healthz") == 200
        flood_plain(d.port, d.proc.pid, 200, mode, src, rate)
    finally:
        stop(d.proc)
