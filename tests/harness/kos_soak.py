"""Soak of kos-adapter under mixed load with faults in the middle (tests/bench/bench_faults.py
runs it for 10 minutes, tests/e2e/test_soak.py for 60 s).

What runs, all on 127.0.0.1: a real control plane (kos_k8s), one Kafka broker (kos_harness), a
built kos-adapter registered as the three APIServices (manifests/overlays/local), and four
vegeta attacks at constant rates for the whole run, each at most 8 requests in flight (a client
of bounded concurrency, like the HPA controller):
  * direct-admin: a system:masters client certificate straight to the adapter (no review):
    an object metric, an external metric, a pods metric (the adapter lists pods) and discovery;
  * direct-user: a certificate of a plain user RBAC allows to read metrics: every request goes
    through a SubjectAccessReview (cached for --authorization-cache-ttl);
  * aggregator-admin, aggregator-user: the same two identities through kube-apiserver's
    aggregation layer (front proxy; the user's requests are reviewed by both servers).
Meanwhile a writer moves the group's committed offsets every second, always leaving lag > 0, so
a served 0 is always wrong; the adapter's RSS, open fds and client connections are sampled every
second. Open fds are judged without the client connections (their number is the clients' doing:
a stalled request makes a client open more), and no socket may linger in CLOSE_WAIT.

Faults, one after the other, around the middle of the run, each with its expected-error window
(from the fault's start to the moment the adapter answers again, plus a grace, logged):
  * kafka: the broker restarts (stop, start at the same address): the snapshot ages past
    --max-staleness, so metric paths answer 503 until a refresh succeeds again;
  * apiserver: kube-apiserver restarts (SIGTERM, SIGKILL after 3 s): the aggregator is down (no
    answer, then 503 until it sees the APIService available again); requests that need
    Kubernetes (reviews past their cache, pod lists) get 500, as k8s.io/apiserver answers when a
    review cannot be made; and a review answered by the apiserver while it is still starting
    (RBAC not loaded yet) is a denial, cached like any (10 s, as k8s.io/apiserver's delegating
    authorizer does): 403 for the plain user until it expires;
  * rotate: certs/gen-certs.sh --rotate-serving, then the adapter restarts on the same port
    (kos-adapter reads its serving certificate once, at start): no answer, then 503 via the
    aggregator, until it is ready; after it the new certificate is served.
"""

import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path

import kos_adapter as ka
import kos_harness as kh
import kos_k8s

REPO = Path(__file__).resolve().parents[2]
CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
APISERVICES = ("v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")
GROUP = "soak-g"  # committed offsets only, moved by the writer; lag always > 0
POD_GROUP = "soak-pods"  # one member (client.id = the pod's name) holding every partition
TOPIC, PARTS, POD = "soak-t", 4, "soak-pod-0"
MAPPING = f"""kos deployments.apps soak {GROUP}
kos pods * {POD_GROUP}
"""
PATHS = {
    "object": f"{CUSTOM2}/namespaces/kos/deployments.apps/soak/kafka_consumergroup_lag",
    "external": f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}",
    "pods": f"{CUSTOM2}/namespaces/kos/pods/%2A/kafka_consumer_lag?labelSelector=app%3Dsoak",
    "discovery": CUSTOM2,
}
# attack: (rate per second, identity, paths)
ATTACKS = {
    "direct-admin": (50, "cpadmin", ("object", "external", "pods", "discovery")),
    "direct-user": (20, "soak-user", ("object", "external", "pods")),
    "aggregator-admin": (20, "cpadmin", ("object", "external", "pods")),
    "aggregator-user": (20, "soak-user", ("object", "external", "pods")),
}
MAX_IN_FLIGHT = 8  # per attack
ADAPTER_ARGS = ["--refresh-interval", "500ms", "--max-staleness", "5s", "--kafka-timeout", "2s",
                "--kube-cache-ttl", "2s", "--authorization-cache-ttl", "10s"]
MAX_STALENESS_S, REFRESH_S = 5.0, 0.5
# librdkafka backs off reconnects up to reconnect.backoff.max.ms (10 s): after the broker is
# back, the adapter may wait that long before its next successful refresh.
KAFKA_GRACE_S = 10.0 + 2 * REFRESH_S + 2.0
GRACE_S = 2.0  # after the adapter (or the aggregator) answers again

RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: soak-metrics-reader}
rules:
- apiGroups: [custom.metrics.k8s.io, external.metrics.k8s.io]
  resources: ["*"]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: soak-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: soak-metrics-reader}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: soak-user}
---
apiVersion: v1
kind: Pod
metadata:
  name: soak-pod-0
  namespace: kos
  labels: {app: soak}
spec:
  nodeName: kwok-node-0
  containers: [{name: c, image: "kos:test"}]
"""


def _log(msg):
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def served_serial(port, cafile):
    """Serial number (hex) of the certificate the adapter serves on PORT."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("=", 1)[1]


def file_serial(path):
    out = subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-serial"],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().split("=", 1)[1]


def user_cert(cp, certs, name, org):
    """A client certificate for NAME (O=ORG) signed by the cluster CA."""
    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True, cwd=certs)
    (certs / f"{name}.ext").write_text("extendedKeyUsage=clientAuth\n")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", f"/O={org}/CN={name}")
    run("x509", "-req", "-in", f"{name}.csr", "-CA", str(cp.pki / "ca.crt"), "-CAkey",
        str(cp.pki / "ca.key"), "-CAcreateserial", "-out", f"{name}.crt", "-days", "2",
        "-extfile", f"{name}.ext")


class Writer(threading.Thread):
    """Every second: one record per partition, and a commit leaving 10..49 records of lag on
    each partition, so the group's lag is always > 0 and changes all the time."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.bootstrap, self.stop_ev, self.paused = bootstrap, threading.Event(), threading.Event()
        self.ends, self.rounds, self.errors = [0] * PARTS, 0, []

    def run(self):
        i = 0
        while not self.stop_ev.wait(1.0):
            if self.paused.is_set():
                continue
            try:
                for p in range(PARTS):
                    self.ends[p] = int(kh.testkit("-b", self.bootstrap, "produce", TOPIC, p, 1,
                                                  timeout=20)) + 1
                lag = 10 + (i * 7) % 40
                kh.testkit("-b", self.bootstrap, "commit", GROUP,
                           *(f"{TOPIC}:{p}={max(0, self.ends[p] - lag)}" for p in range(PARTS)),
                           timeout=20)
                self.rounds += 1
            except Exception as e:  # noqa: BLE001 - the broker may be restarting: retried
                self.errors.append((time.time(), repr(e)[:200]))
            i += 1


def adapter_sockets(pid, port):
    """(established, close_wait) TCP connections whose local end is the adapter's PORT: the
    client connections it holds, and those the client closed but the adapter has not."""
    est = cw = 0
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            if int(f[1].rsplit(":", 1)[1], 16) != port:
                continue
            est += f[3] == "01"
            cw += f[3] == "08"
    return est, cw


class Sampler(threading.Thread):
    """RSS (KiB), open fds, client connections, CLOSE_WAIT sockets and threads of the adapter's
    current process, every second."""

    def __init__(self, adapter, port):
        super().__init__(daemon=True)
        self.adapter, self.port, self.stop_ev, self.rows = adapter, port, threading.Event(), []

    def run(self):
        while not self.stop_ev.wait(1.0):
            proc = self.adapter.proc
            if proc is None or proc.poll() is not None:
                continue
            pid = proc.pid
            try:
                st = Path(f"/proc/{pid}/status").read_text()
                rss = int(st.split("VmRSS:")[1].split()[0])
                threads = int(st.split("Threads:")[1].split()[0])
                fds = len(os.listdir(f"/proc/{pid}/fd"))
                conns, close_wait = adapter_sockets(pid, self.port)
            except (FileNotFoundError, IndexError, ProcessLookupError):
                continue
            self.rows.append({"t": time.time(), "pid": pid, "rss_kib": rss, "fds": fds,
                              "conns": conns, "fds_without_conns": fds - conns,
                              "close_wait": close_wait, "threads": threads})


def start_attack(name, rate, urls, cafile, cert, key, duration_s, outdir):
    vegeta = str(kos_k8s.binary("vegeta"))
    tf = outdir / f"targets-{name}"
    tf.write_text("".join(f"GET {u}\n\n" for u in urls))
    out = outdir / f"results-{name}.bin"
    cmd = [vegeta, "attack", "-name", name, "-targets", str(tf), f"-rate={rate}/1s",
           f"-duration={duration_s}s", "-timeout=5s", "-keepalive=true", "-http2=false",
           f"-workers={MAX_IN_FLIGHT}", f"-max-workers={MAX_IN_FLIGHT}",
           "-root-certs", str(cafile), "-cert", str(cert), "-key", str(key),
           "-output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), out


def read_results(path):
    vegeta = str(kos_k8s.binary("vegeta"))
    out = subprocess.run([vegeta, "encode", "--to", "json", str(path)], capture_output=True,
                         check=True).stdout.decode()
    rows = []
    for line in out.splitlines():
        r = json.loads(line)
        ts = r["timestamp"]  # RFC 3339 with nanoseconds and a zone
        rows.append({
            "t": _parse_ts(ts) + r["latency"] / 1e9,  # when the answer (or error) arrived
            "code": r["code"], "error": r.get("error", ""), "url": r["url"],
            "latency_ms": r["latency"] / 1e6, "attack": r.get("attack", ""),
            "body": base64.b64decode(r["body"]) if r.get("body") else b"",
        })
    return rows


def _parse_ts(s):
    """Epoch seconds (float) of vegeta's RFC 3339 timestamps, e.g.
    2026-12-01T01:02:03.123456789+00:00 or ...Z."""
    import datetime
    main, _, rest = s.partition(".")
    frac, zone = rest, ""
    for i, c in enumerate(rest):
        if not c.isdigit():
            frac, zone = rest[:i], rest[i:]
            break
    zone = "+00:00" if zone in ("", "Z") else zone
    dt = datetime.datetime.fromisoformat(main + zone)
    return dt.timestamp() + (int(frac) / 10 ** len(frac) if frac else 0.0)


def path_kind(url):
    for kind, p in PATHS.items():
        if url.endswith(p):
            return kind
    return "?"


def classify(rows, windows):
    """Splits the requests into ok / expected (an allowed kind inside a window) / unexpected.
    windows: [{"name", "start", "end", "allowed": {attack: set of codes (0 = no answer)}}]."""
    out = {"ok": 0, "expected": {w["name"]: 0 for w in windows}, "unexpected": [],
           "zero_values": []}
    for r in rows:
        kind = path_kind(r["url"])
        if r["code"] == 200:
            out["ok"] += 1
            if kind in ("object", "external") and r["body"]:
                try:
                    items = json.loads(r["body"])["items"]
                except ValueError:
                    items = None
                if items is None or not items or any(i["value"] == "0" for i in items):
                    out["zero_values"].append((r["t"], r["attack"], kind, r["body"][:200]))
            continue
        hit = None
        for w in windows:
            if w["start"] <= r["t"] <= w["end"] and r["code"] in w["allowed"].get(r["attack"], ()):
                hit = w
                break
        if hit:
            out["expected"][hit["name"]] += 1
        else:
            out["unexpected"].append({"t": r["t"], "attack": r["attack"], "path": kind,
                                      "code": r["code"], "error": r["error"][:160],
                                      "body": r["body"][:160].decode(errors="replace")})
    return out


# Memory one open TLS client connection holds in kos-adapter (see flatness()).
CONN_STATE_KIB = 96


def flatness(samples, warmup_s, tail_s=5.0):
    """Per adapter process: RSS, fds (with and without client connections), client connections
    and CLOSE_WAIT sockets right after the warm-up (median over tail_s) and at its end (median
    over the last tail_s), and the growth between them."""
    out = []
    pids = []
    for s in samples:
        if not pids or pids[-1] != s["pid"]:
            pids.append(s["pid"])
    for pid in pids:
        seg = [s for s in samples if s["pid"] == pid]
        t0 = seg[0]["t"]
        base = [s for s in seg if t0 + warmup_s <= s["t"] < t0 + warmup_s + tail_s]
        end = [s for s in seg if s["t"] >= seg[-1]["t"] - tail_s]
        if not base or seg[-1]["t"] - t0 < warmup_s + 2 * tail_s:
            out.append({"pid": pid, "seconds": round(seg[-1]["t"] - t0, 1),
                        "judged": False})
            continue
        row = {"pid": pid, "seconds": round(seg[-1]["t"] - t0, 1), "judged": True}
        for k in ("rss_kib", "fds_without_conns", "fds", "conns", "close_wait", "threads"):
            b = statistics.median(s[k] for s in base)
            e = statistics.median(s[k] for s in end)
            row[f"{k}_after_warmup"] = b
            row[f"{k}_end"] = e
            row[f"{k}_max"] = max(s[k] for s in seg[len(seg) - len(end):] + base)
            row[f"{k}_growth_pct"] = round(100.0 * (e - b) / b, 2) if b else None
        # Memory that open client connections hold is state, not growth: each has libmicrohttpd's
        # pool (--connection-memory, 64 KiB in adapter/server.c) and a GnuTLS session with its
        # record buffers (~16 KiB each way). The aggregator reconnects with more connections
        # after a kube-apiserver restart, so RSS is judged net of that, and bounded anyway by
        # --max-connections.
        extra = max(0.0, row["conns_end"] - row["conns_after_warmup"])
        net = row["rss_kib_end"] - row["rss_kib_after_warmup"] - CONN_STATE_KIB * extra
        base_rss = row["rss_kib_after_warmup"]
        row["rss_kib_net_of_conns_growth_pct"] = round(100.0 * net / base_rss, 2) if base_rss else None
        out.append(row)
    return out


def plot(png, rows, samples, windows, t0):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(4, 1, figsize=(11, 10), sharex=True)
    secs = int(max(r["t"] for r in rows) - t0) + 2
    for attack in ATTACKS:
        ok = [0] * secs
        err = [0] * secs
        for r in rows:
            if r["attack"] != attack:
                continue
            i = int(r["t"] - t0)
            if 0 <= i < secs:
                (ok if r["code"] == 200 else err)[i] += 1
        axes[2].plot(range(secs), ok, label=f"{attack} 200/s", lw=0.8)
        axes[3].plot(range(secs), err, label=f"{attack} errors/s", lw=0.8)
    for pid in sorted({s["pid"] for s in samples}, key=lambda p: next(
            s["t"] for s in samples if s["pid"] == p)):
        seg = [s for s in samples if s["pid"] == pid]
        xs = [s["t"] - t0 for s in seg]
        axes[0].plot(xs, [s["rss_kib"] / 1024 for s in seg], label=f"pid {pid}")
        axes[1].plot(xs, [s["fds"] for s in seg], label=f"pid {pid} all")
        axes[1].plot(xs, [s["fds_without_conns"] for s in seg], label=f"pid {pid} w/o clients")
        axes[1].plot(xs, [s["conns"] for s in seg], ls=":", label=f"pid {pid} client conns")
    axes[0].set_ylabel("adapter RSS (MiB)")
    axes[1].set_ylabel("adapter open fds")
    axes[2].set_ylabel("answers 200 / s")
    axes[3].set_ylabel("errors / s")
    axes[3].set_xlabel("seconds since the load started")
    for ax in axes:
        for w in windows:
            ax.axvspan(w["start"] - t0, w["end"] - t0, color="orange", alpha=0.15)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    for w in windows:
        axes[0].text(w["start"] - t0, axes[0].get_ylim()[1], w["name"], fontsize=8, va="top")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    fig.suptitle("kos-adapter soak: mixed load, Kafka / kube-apiserver restart, certificate "
                 "rotation (shaded: expected-error windows)", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


def api_get(cp, certs, cert, path):
    """Status of GET PATH through kube-apiserver (the aggregator) as CERT; 0 if no answer."""
    ctx = ssl.create_default_context(cafile=cp.client_ca)
    ctx.load_cert_chain(str(certs / f"{cert}.crt"), str(certs / f"{cert}.key"))
    host, port = cp.apiserver_url.rsplit("//", 1)[1].rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def wait_serving(ad, cp, timeout=60):
    """Waits until every attack's paths answer 200 again: the end of a fault's window."""
    def ok():
        for name, (_, cert, kinds) in ATTACKS.items():
            for k in kinds:
                if name.startswith("aggregator"):
                    st = api_get(cp, ad.certs, cert, PATHS[k])
                else:
                    st = ad.get(PATHS[k], cert=cert, raw=True)[0]
                if st != 200:
                    return False
        return True
    kh.wait_until(ok, timeout=timeout, interval=0.2, what="every path answering 200 again")


def run(root, duration_s, png, warmup_s=20.0, tail_s=5.0, fault_at=(0.30, 0.50, 0.70)):
    """Runs the soak in ROOT for DURATION_S seconds of load, the faults at those fractions of
    it; writes the PNG; returns a dict of figures and findings (check() judges them). RSS and
    fds are compared between [warmup_s, warmup_s + tail_s) of each adapter process and its
    last tail_s: keep the first fault after that."""
    root = Path(root)
    res = {"duration_s": duration_s, "warmup_s": warmup_s, "tail_s": tail_s,
           "fault_at": fault_at, "rates": {k: v[0] for k, v in ATTACKS.items()},
           "max_in_flight_per_attack": MAX_IN_FLIGHT, "adapter_args": ADAPTER_ARGS}
    with contextlib.ExitStack() as stack:
        cp = stack.enter_context(kos_k8s.ControlPlane(root / "k8s"))
        kafka = stack.enter_context(kh.KafkaBroker(root / "kafka"))
        certs = ka.make_certs(root / "certs")
        for f in ("admin.crt", "admin.key"):
            shutil.copy(cp.pki / f, certs / f"cp{f}")
        user_cert(cp, certs, "soak-user", "soak-readers")
        # Direct clients carry cluster-CA certificates and the aggregator the cluster's
        # front-proxy certificate: trusted through the cluster's authentication ConfigMap, and
        # through the flags as well (bundles of ours and the cluster's CAs), whichever wins.
        bundle = certs / "client-ca-bundle.crt"
        bundle.write_text((certs / "client-ca.crt").read_text() + (cp.pki / "ca.crt").read_text())
        rh_bundle = certs / "front-proxy-ca-bundle.crt"
        rh_bundle.write_text((certs / "front-proxy-ca.crt").read_text()
                             + (cp.pki / "front-proxy-ca.crt").read_text())
        kh.testkit("-b", kafka.bootstrap, "create-topic", TOPIC, PARTS)
        for p in range(PARTS):
            kh.testkit("-b", kafka.bootstrap, "produce", TOPIC, p, 100)
        kh.testkit("-b", kafka.bootstrap, "commit", GROUP, *(f"{TOPIC}:{p}=50" for p in range(PARTS)))
        member = stack.enter_context(kh.GroupMember(kafka.bootstrap, POD_GROUP, POD, [TOPIC]))
        member.wait_assigned(PARTS)

        port = kh.free_port()
        ad = ka.Adapter(certs, kafka.bootstrap, mapping=MAPPING, port=port,
                        args=["--kubeconfig", cp.kubeconfig, *ADAPTER_ARGS,
                              "--client-ca-file", str(bundle),
                              "--requestheader-client-ca-file", str(rh_bundle)])
        ad.start()
        stack.callback(ad.stop)
        overlay = subprocess.run(
            [str(REPO / "manifests/overlays/local/configure.sh"), str(root / "overlay"),
             str(port), str(certs / "ca-bundle.b64")],
            check=True, capture_output=True, text=True).stdout.strip()
        cp.kubectl("apply", "-k", overlay)
        for name in APISERVICES:
            cp.wait_apiservice_available(name, timeout=90)
        cp.kubectl("delete", "hpa,deployment", "--all", "-n", "kos", "--wait=true")
        cp.apply(RBAC)
        cp.wait_ready_pods(1, "kos", "app=soak", timeout=60)
        # Every path answers before the load starts. RBAC reaches the apiserver's authorizer a moment after the apply, and the adapter
        # caches a denial for --authorization-cache-ttl: wait until every path is allowed.
        wait_serving(ad, cp, timeout=60)

        writer = Writer(kafka.bootstrap)
        sampler = Sampler(ad, port)
        writer.start()
        sampler.start()
        stack.callback(writer.stop_ev.set)
        stack.callback(sampler.stop_ev.set)
        api = cp.apiserver_url
        direct = f"https://127.0.0.1:{port}"
        attacks = {}
        t_load = time.time()
        for name, (rate, cert, kinds) in ATTACKS.items():
            via = name.startswith("aggregator")
            base = api if via else direct
            cafile = cp.pki / "ca.crt" if via else certs / "ca.crt"
            attacks[name] = start_attack(name, rate, [base + PATHS[k] for k in kinds], cafile,
                                         certs / f"{cert}.crt", certs / f"{cert}.key",
                                         duration_s, root)
        for proc, _ in attacks.values():
            stack.callback(lambda p=proc: p.poll() is None and p.kill())
        _log(f"load started for {duration_s} s: {res['rates']} req/s")

        windows, faults = [], {}

        def at(frac):
            left = t_load + frac * duration_s - time.time()
            if left > 0:
                time.sleep(left)

        # 1. Kafka broker restart.
        at(fault_at[0])
        t0 = time.time()
        kafka.stop()
        t_down = time.time()
        kafka.start()
        t_up = time.time()
        wait_serving(ad, cp, timeout=KAFKA_GRACE_S + 30)
        t_ready = time.time()
        faults["kafka"] = {"down_s": round(t_up - t_down, 2), "stop_s": round(t_down - t0, 2),
                           "adapter_ready_after_broker_s": round(t_ready - t_up, 2)}
        windows.append({"name": "kafka", "start": t0, "end": max(t_ready, t_up) + GRACE_S,
                        "allowed": {a: {503} for a in ATTACKS}})
        _log(f"kafka restart: {faults['kafka']}")
        # 2. kube-apiserver restart.
        at(fault_at[1])
        t0 = time.time()
        down_s, ready_s = cp.restart_component("kube-apiserver", grace_s=3)
        t_api = t0 + ready_s
        # The aggregator answers again once its APIService availability check passed; the
        # adapter's own reviews and pod lists once it reaches the apiserver again.
        wait_serving(ad, cp, timeout=120)
        t_agg = time.time()
        faults["apiserver"] = {"stop_s": round(down_s, 2), "ready_s": round(ready_s, 2),
                               "aggregator_back_after_ready_s": round(t_agg - t_api, 2)}
        windows.append({"name": "apiserver", "start": t0, "end": t_agg + GRACE_S,
                        "allowed": {"direct-admin": {500}, "direct-user": {500, 403},
                                    "aggregator-admin": {0, 503},
                                    "aggregator-user": {0, 503, 500, 403}}})
        _log(f"kube-apiserver restart: {faults['apiserver']}")
        # 3. Serving-certificate rotation.
        at(fault_at[2])
        before = served_serial(port, certs / "ca.crt")
        subprocess.run([str(REPO / "certs/gen-certs.sh"), str(certs), "--rotate-serving"],
                       check=True, capture_output=True)
        on_disk = file_serial(certs / "serving.crt")
        time.sleep(2)
        still = served_serial(port, certs / "ca.crt")
        t0 = time.time()
        res["adapter_exit_code_before_rotation"] = ad.stop()
        ad.start(wait_ready=False)
        wait_serving(ad, cp)
        t_ready = time.time()
        after = served_serial(port, certs / "ca.crt")
        faults["rotate"] = {"serial_before": before, "serial_new_file": on_disk,
                            "served_2s_after_rotation": still, "served_after_restart": after,
                            "picked_up_without_restart": still == on_disk,
                            "restart_to_ready_s": round(t_ready - t0, 2)}
        windows.append({"name": "rotate", "start": t0, "end": t_ready + GRACE_S,
                        "allowed": {a: {503} if a.startswith("aggregator") else {0, 503}
                                    for a in ATTACKS}})
        _log(f"serving certificate rotation: {faults['rotate']}")

        for name, (proc, _) in attacks.items():
            proc.wait(timeout=duration_s + 120)
            if proc.returncode != 0:
                raise RuntimeError(f"vegeta {name} failed: {proc.stderr.read()[-2000:]}")
        t_end = time.time()
        writer.paused.set()
        time.sleep(2)
        sampler.stop_ev.set()
        # The values are right at the end: the adapter against ConsumerGroupCommand.
        truth = sum(r["lag"] for r in kh.cgc_describe_group(kafka.bootstrap, GROUP))
        kh.wait_until(lambda: ad.get(PATHS["external"], cert="cpadmin")[1]["items"][0]["value"]
                      == str(truth), timeout=15, what=f"served lag == CGC ({truth})")
        res["final_lag_checked"] = truth
        writer.stop_ev.set()
        rc = ad.stop()
        res["adapter_exit_code"] = rc

    rows = []
    for name, (_, out) in attacks.items():
        rows += read_results(out)
    rows.sort(key=lambda r: r["t"])
    cls = classify(rows, windows)
    span = t_end - t_load
    res["faults"] = faults
    res["windows"] = [{"name": w["name"], "start_s": round(w["start"] - t_load, 2),
                       "end_s": round(w["end"] - t_load, 2),
                       "allowed": {k: sorted(v) for k, v in w["allowed"].items()}}
                      for w in windows]
    res["requests"] = len(rows)
    res["requests_per_s"] = round(len(rows) / span, 1)
    res["by_attack"] = {}
    for name in ATTACKS:
        mine = [r for r in rows if r["attack"] == name]
        lat = sorted(r["latency_ms"] for r in mine if r["code"] == 200)
        codes = {}
        for r in mine:
            codes[str(r["code"])] = codes.get(str(r["code"]), 0) + 1
        res["by_attack"][name] = {
            "requests": len(mine), "codes": codes,
            "p50_ms": round(lat[len(lat) // 2], 2) if lat else None,
            "p99_ms": round(lat[int(len(lat) * 0.99)], 2) if lat else None,
        }
    res["ok"] = cls["ok"]
    res["expected_errors_by_window"] = cls["expected"]
    res["unexpected_errors"] = len(cls["unexpected"])
    res["unexpected_samples"] = cls["unexpected"][:20]
    res["served_zero_or_empty"] = len(cls["zero_values"])
    res["zero_samples"] = [(round(t - t_load, 2), a, k, b.decode(errors="replace"))
                           for t, a, k, b in cls["zero_values"][:5]]
    res["memory"] = flatness(sampler.rows, warmup_s, tail_s)
    res["writer_rounds"], res["writer_errors"] = writer.rounds, len(writer.errors)
    plot(png, rows, sampler.rows, windows, t_load)
    res["png"] = str(png)
    (Path(root) / "soak.json").write_text(json.dumps(res, indent=2) + "\n")
    return res


def check(res, max_growth_pct=5.0):
    """The soak's promises; returns the list of broken ones."""
    bad = []
    for k in ("adapter_exit_code_before_rotation", "adapter_exit_code"):
        if res[k] != 0:
            bad.append(f"{k}: kos-adapter exited with {res[k]}")
    if res["unexpected_errors"]:
        bad.append(f"{res['unexpected_errors']} errors outside the expected windows: "
                   f"{res['unexpected_samples'][:5]}")
    if res["served_zero_or_empty"]:
        bad.append(f"{res['served_zero_or_empty']} answers served 0 or nothing for a group with "
                   f"lag: {res['zero_samples']}")
    back = res["faults"]["kafka"]["adapter_ready_after_broker_s"]
    if back > KAFKA_GRACE_S:
        bad.append(f"the adapter served values {back} s after the broker was back "
                   f"(bound {KAFKA_GRACE_S} s: reconnect backoff + 2 refreshes)")
    rot = res["faults"]["rotate"]
    if rot["served_after_restart"] != rot["serial_new_file"]:
        bad.append(f"after the restart the adapter serves {rot['served_after_restart']}, not the "
                   f"rotated certificate {rot['serial_new_file']}")
    judged = [m for m in res["memory"] if m["judged"]]
    if not judged:
        bad.append(f"no adapter process ran long enough to judge RSS/fds: {res['memory']}")
    for m in judged:
        for k, shown in (("rss_kib_net_of_conns", "rss_kib"), ("fds_without_conns",) * 2):
            if m[f"{k}_growth_pct"] >= max_growth_pct:
                bad.append(f"pid {m['pid']}: {k} grew {m[f'{k}_growth_pct']} % after the warm-up "
                           f"({shown} {m[f'{shown}_after_warmup']} -> {m[f'{shown}_end']}, client "
                           f"connections {m['conns_after_warmup']} -> {m['conns_end']})")
        if m["close_wait_end"] > 0:
            bad.append(f"pid {m['pid']}: {m['close_wait_end']} client sockets left in CLOSE_WAIT")
    for name, a in res["by_attack"].items():
        if not a["codes"].get("200"):
            bad.append(f"{name}: no successful request at all")
    return bad
