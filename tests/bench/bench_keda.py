#!/usr/bin/env python3
"""KEDA v2.21.0 beside kos-adapter on one control plane and one broker (issue 13, "KEDA, side by
side"): one command, alternate rounds, ratios. Starts its own control plane (etcd,
kube-apiserver with the aggregation layer, kube-controller-manager with the HPA controller at
the default 15 s sync, kwok; tests/harness/kos_k8s.py) and a KRaft broker (kos_harness.py), all
on 127.0.0.1; builds KEDA once through scripts/install-keda.sh (tests/harness/kos_keda.py runs
its operator and metrics apiserver as local processes).

Workloads: N kwok Deployments w0000.. (N = 10, 100, 1000, added cumulatively), each with its own
consumer group kb-g0000.. on one of 20 shared 4-partition topics, committed offsets and lag made
with kos-testkit (most groups 20..96 messages -> 1 replica at threshold 100, every tenth 240 ->
3 replicas). Before the rounds of each N, kafka-consumer-groups --describe --all-groups
(ConsumerGroupCommand) must show exactly the lag that was committed.

Rounds, each system alone owning v1beta1.external.metrics.k8s.io (both serve External metrics,
so the HPA controller's path, the metric type and the HPA count are the same; the other
system's processes are stopped, so neither competes for the 2 cores):
  kos      kos-adapter (defaults: refresh 1 s) and N HPAs, External kafka_consumergroup_lag
           {group=<g>}, AverageValue 100, min 1 / max 8.
  keda-1s  KEDA operator + metrics apiserver and N ScaledObjects, trigger kafka
           {bootstrapServers, consumerGroup=<g>, topic=<t>, lagThreshold=100}, maxReplicaCount
           8, pollingInterval 1; KEDA makes the N HPAs (keda-hpa-<name>).
  keda     the same ScaledObjects at KEDA's default pollingInterval (30 s; processes restarted).
ScaledObjects keep KEDA's other defaults (minReplicaCount 0, so its scale loop polls every
pollingInterval; useCachedMetrics false, so every HPA request queries Kafka live); the probe
workloads w0002/w0003 set useCachedMetrics (their value is the one the loop polled), and the odd
ones carry a fallback (failureThreshold 3, replicas 5), which only matters when Kafka is down.

Measured in each round, after all N HPAs report a value:
  * correct: every group's value through the aggregator equals ConsumerGroupCommand's lag, and
    every HPA's status shows that value (averageValue x currentReplicas); a mismatch fails the
    run (no figure is reported from a system serving wrong values);
  * memory: VmRSS of every process of the system (median over the steady window; peak VmHWM):
    kos-adapter vs keda operator + keda-adapter; CPU cores used in the window;
  * Kafka connections: established TCP connections to the broker port per process (ss), the
    maximum over the window and the distinct ones seen;
  * latency of the external-metrics request through the aggregator (kube-apiserver -> adapter
    [-> operator -> Kafka for KEDA]), sequential over one keep-alive client, random groups;
  * freshness: the probe group's lag flipped by one commit at a random phase of the HPA loop;
    seconds until the aggregator serves the new value and until the HPA's status shows it;
  * Kafka down (at --kafka-down sizes; kos and keda): broker stopped for --down-seconds, what
    each HPA does (desired replicas, ScalingActive), what the aggregator answers; broker back:
    seconds until values and all HPAs are back.
Goals (issue 13): at 1,000 workloads kos >= 10x less memory and >= 10x fewer broker connections
than KEDA, and fresher at equal polling.

Usage: /usr/bin/python3 tests/bench/bench_keda.py [--sizes 10,100,1000] [--steady 60]
         [--latency 200] [--fresh 4] [--kafka-down 10,100] [--down-seconds 90]
         [--variants kos,keda-1s,keda] [--png PATH]
Needs scripts/install-k8s.sh, Go for scripts/install-keda.sh, the build tree (kos-adapter,
kos-testkit). Prints progress and a table; writes tests/bench/results/keda.json and keda.png
(git-ignored; the PNG needs matplotlib: Debian python3-matplotlib). Heavy: run it through /work/heavy.
"""

import argparse
import concurrent.futures
import http.client
import json
import math
import os
import random
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402
import kos_keda  # noqa: E402

NS = "kb"
TOPICS = 20
PARTITIONS = 4
BASE_RECORDS = 300  # per partition; no record is produced after the setup
THRESHOLD = 100
MAX_REPLICAS = 8
FALLBACK_REPLICAS = 5
FALLBACK_THRESHOLD = 3
PROBES_LIVE = (0, 1)
PROBES_CACHED = (2, 3)  # useCachedMetrics in the KEDA rounds; like the live ones for kos
PROBE_LAGS = (10, 20)  # per partition: 40 <-> 80 in total, 1 replica either way
HPA_SYNC = "15s"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
APISERVICE = "v1beta1.external.metrics.k8s.io"
KOS_METRIC = "kafka_consumergroup_lag"
KCM_ARGS = ["--kube-api-qps=300", "--kube-api-burst=600"]


def log(msg):
    print(f"[bench_keda {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def group(i):
    return f"kb-g{i:04d}"


def topic(i):
    return f"kb-t{i % TOPICS:02d}"


def workload(i):
    return f"w{i:04d}"


def base_lag(i):
    """Per-partition lag of group i after the setup."""
    if i in PROBES_LIVE + PROBES_CACHED:
        return PROBE_LAGS[0]
    return 60 if i % 10 == 9 else 5 + (i * 7) % 20


def replicas_for(total):
    return max(1, min(MAX_REPLICAS, math.ceil(total / THRESHOLD)))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))] if v else None


def rnd(x, n=3):
    return None if x is None else round(x, n)


def parse_qty(s):
    """A Kubernetes quantity as the metrics APIs write them ("240", "240500m", "1200k")."""
    m = re.fullmatch(r"(-?[0-9.]+)([a-zA-Z]*)", str(s).strip())
    if not m:
        raise ValueError(f"bad quantity {s!r}")
    mult = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024,
            "Mi": 1024 ** 2, "Gi": 1024 ** 3}[m.group(2)]
    return float(m.group(1)) * mult


# --- kube-apiserver client ------------------------------------------------------------------


class Api:
    """One keep-alive HTTPS connection to kube-apiserver with the admin client certificate."""

    def __init__(self, cp, timeout=30):
        self.port = int(cp.apiserver_url.rsplit(":", 1)[1])
        self.ctx = ssl.create_default_context(cafile=str(cp.pki / "ca.crt"))
        self.ctx.load_cert_chain(str(cp.pki / "admin.crt"), str(cp.pki / "admin.key"))
        self.timeout = timeout
        self.conn = None

    def req(self, method, path, body=None, ctype="application/json", timeout=None):
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                        timeout=timeout or self.timeout)
            try:
                hdrs = {"Accept": "application/json"}
                if data is not None:
                    hdrs["Content-Type"] = ctype
                self.conn.request(method, path, body=data, headers=hdrs)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, ConnectionError, ssl.SSLError, TimeoutError,
                    OSError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def json(self, path):
        st, body = self.req("GET", path)
        if st != 200:
            raise AssertionError(f"GET {path} -> {st}: {body[:300]!r}")
        return json.loads(body)

    def create(self, path, obj):
        st, body = self.req("POST", path, obj)
        if st not in (200, 201, 409):
            raise AssertionError(f"POST {path} -> {st}: {body[:300]!r}")

    def merge_patch(self, path, obj):
        st, body = self.req("PATCH", path, obj, ctype="application/merge-patch+json")
        if st != 200:
            raise AssertionError(f"PATCH {path} -> {st}: {body[:300]!r}")

    def delete(self, path):
        st, body = self.req("DELETE", path)
        if st not in (200, 202, 404):
            raise AssertionError(f"DELETE {path} -> {st}: {body[:300]!r}")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NS}/deployments"
HPAS = f"/apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers"
SCALEDOBJECTS = f"/apis/keda.sh/v1alpha1/namespaces/{NS}/scaledobjects"


def deployment(i, replicas):
    labels = {"app": workload(i)}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": workload(i), "namespace": NS},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"nodeName": "kwok-node-0",
                                           "containers": [{"name": "c", "image": "kb:bench"}]}}}}


# --- process figures ------------------------------------------------------------------------


def proc_figures(pid):
    """(VmRSS KiB, VmHWM KiB, CPU seconds user+system) of PID."""
    st = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, hwm, cpu


def broker_connections(port):
    """{pid: set of local ports} of the established TCP connections to the broker's PORT."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    conns = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) < 4:
            continue
        local = f[2].rsplit(":", 1)[1]
        for pid in re.findall(r"pid=(\d+)", line):
            conns.setdefault(int(pid), set()).add(local)
    return conns


def steady_window(pids, broker_port, seconds, interval=2.0):
    """Samples the processes {name: pid} for SECONDS: RSS median/max per process and summed,
    peak VmHWM, CPU cores used, broker connections (max established, distinct seen)."""
    rss = {n: [] for n in pids}
    conns_max = {n: 0 for n in pids}
    distinct = {n: set() for n in pids}
    cpu0 = {n: proc_figures(p)[2] for n, p in pids.items()}
    t0 = time.monotonic()
    while True:
        c = broker_connections(broker_port)
        for n, p in pids.items():
            r, _, _ = proc_figures(p)
            rss[n].append(r)
            mine = c.get(p, set())
            conns_max[n] = max(conns_max[n], len(mine))
            distinct[n] |= mine
        if time.monotonic() - t0 >= seconds:
            break
        time.sleep(interval)
    wall = time.monotonic() - t0
    figs = {n: proc_figures(p) for n, p in pids.items()}
    out = {"seconds": round(wall, 1), "samples": len(next(iter(rss.values()))), "process": {}}
    for n in pids:
        out["process"][n] = {
            "rss_median_mib": round(statistics.median(rss[n]) / 1024, 1),
            "rss_max_mib": round(max(rss[n]) / 1024, 1),
            "vmhwm_mib": round(figs[n][1] / 1024, 1),
            "cpu_cores": round((figs[n][2] - cpu0[n]) / wall, 3),
            "broker_connections_max": conns_max[n],
            "broker_connections_distinct": len(distinct[n]),
        }
    pr = out["process"].values()
    out["rss_median_mib"] = round(sum(p["rss_median_mib"] for p in pr), 1)
    out["vmhwm_mib"] = round(sum(p["vmhwm_mib"] for p in pr), 1)
    out["cpu_cores"] = round(sum(p["cpu_cores"] for p in pr), 3)
    out["broker_connections"] = sum(p["broker_connections_max"] for p in pr)
    out["broker_connections_distinct"] = sum(p["broker_connections_distinct"] for p in pr)
    return out


# --- the two systems --------------------------------------------------------------------------


class KosSystem:
    name = "kos"

    def __init__(self, ctx):
        self.ctx = ctx
        self.ad = None

    def start(self):
        c = self.ctx
        self.ad = ka.Adapter(c.kos_certs, c.kafka.bootstrap, default_auth=False,
                             args=["--kubeconfig", c.cp.kubeconfig])
        self.ad.start()
        ca = (c.kos_certs / "ca-bundle.b64").read_text().strip()
        c.cp.apply([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kos"}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "kos-adapter", "namespace": "kos"},
             "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": APISERVICE},
             "spec": {"service": {"name": "kos-adapter", "namespace": "kos",
                                  "port": self.ad.port},
                      "group": "external.metrics.k8s.io", "version": "v1beta1",
                      "caBundle": ca, "groupPriorityMinimum": 100, "versionPriority": 100}}])

    def pids(self):
        return {"kos-adapter": self.ad.proc.pid}

    def hpa_name(self, i):
        return workload(i)

    def create_scalers(self, api, idxs):
        for i in idxs:
            api.create(HPAS, {
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": workload(i), "namespace": NS},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": workload(i)},
                         "minReplicas": 1, "maxReplicas": MAX_REPLICAS,
                         "metrics": [{"type": "External", "external": {
                             "metric": {"name": KOS_METRIC,
                                        "selector": {"matchLabels": {"group": group(i)}}},
                             "target": {"type": "AverageValue",
                                        "averageValue": str(THRESHOLD)}}}]}})

    def metric_path(self, i):
        sel = urllib.parse.quote(f"group={group(i)}", safe="")
        return f"{EXTERNAL}/namespaces/{NS}/{KOS_METRIC}?labelSelector={sel}"

    def delete_scalers(self, api):
        api.delete(HPAS)

    def stop(self):
        rc = self.ad.stop() if self.ad else None
        self.ad = None
        if rc not in (0, None):
            raise AssertionError(f"kos-adapter exited with {rc}")


class KedaSystem:
    name = "keda"

    def __init__(self, ctx):
        self.ctx = ctx
        self.keda = None
        self.paths = {}

    def start(self):
        c = self.ctx
        self.keda = kos_keda.Keda(c.cp, c.tmp / "keda", install_dir=c.keda_dir)
        self.keda.start()
        c.cp.apply(self.keda.apiservice())

    def pids(self):
        return {"keda-operator": self.keda.pids()["operator"],
                "keda-adapter": self.keda.pids()["adapter"]}

    def hpa_name(self, i):
        return f"keda-hpa-{workload(i)}"

    @staticmethod
    def scaled_object(i, polling, bootstrap):
        trig = {"type": "kafka", "metadata": {
            "bootstrapServers": bootstrap, "consumerGroup": group(i), "topic": topic(i),
            "lagThreshold": str(THRESHOLD)}}
        if i in PROBES_CACHED:
            trig["useCachedMetrics"] = True
        spec = {"scaleTargetRef": {"name": workload(i)}, "maxReplicaCount": MAX_REPLICAS,
                "triggers": [trig]}
        if polling is not None:
            spec["pollingInterval"] = polling
        if i % 2 == 1:
            spec["fallback"] = {"failureThreshold": FALLBACK_THRESHOLD,
                                "replicas": FALLBACK_REPLICAS}
        return {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                "metadata": {"name": workload(i), "namespace": NS}, "spec": spec}

    def create_scalers(self, api, idxs, polling=None):
        for i in idxs:
            api.create(SCALEDOBJECTS, self.scaled_object(i, polling, self.ctx.kafka.bootstrap))

    def set_polling(self, api, idxs, polling):
        for i in idxs:
            api.merge_patch(f"{SCALEDOBJECTS}/{workload(i)}",
                            {"spec": {"pollingInterval": polling}})

    def learn_paths(self, api):
        """The External metric KEDA put into each HPA it made (name and selector)."""
        for h in api.json(HPAS)["items"]:
            m = h["spec"]["metrics"][0]["external"]["metric"]
            sel = ",".join(f"{k}={v}" for k, v in m["selector"]["matchLabels"].items())
            self.paths[h["metadata"]["name"]] = (
                f"{EXTERNAL}/namespaces/{NS}/{m['name']}?labelSelector="
                f"{urllib.parse.quote(sel, safe='')}")

    def metric_path(self, i):
        return self.paths[self.hpa_name(i)]

    def delete_scalers(self, api):
        api.delete(SCALEDOBJECTS)  # the operator removes its finalizer, the GC the HPAs

    def stop(self):
        if self.keda:
            rcs = self.keda.stop()
            self.keda = None
            log(f"keda stopped: {rcs}")


# --- measurements -----------------------------------------------------------------------------


def hpa_value(h):
    """(averageValue, currentReplicas) from an HPA's status, or None before its first value."""
    st = h.get("status", {})
    for m in st.get("currentMetrics") or []:
        cur = (m.get("external") or {}).get("current") or {}
        if "averageValue" in cur:
            return parse_qty(cur["averageValue"]), st.get("currentReplicas")
    return None


def scaling_active(h):
    for c in h.get("status", {}).get("conditions", []):
        if c.get("type") == "ScalingActive":
            return c.get("status") == "True", c.get("reason")
    return False, None


def served_value(api, path):
    """(HTTP status, summed value or None) of an external metric through the aggregator."""
    st, body = api.req("GET", path, timeout=15)
    if st != 200:
        return st, None
    items = json.loads(body)["items"]
    return st, sum(parse_qty(it["value"]) for it in items) if items else None


def wait_all_active(api, system, n, timeout):
    names = {system.hpa_name(i) for i in range(n)}
    t0 = time.monotonic()
    last = -1
    while True:
        hpas = [h for h in api.json(HPAS)["items"] if h["metadata"]["name"] in names]
        ok = sum(1 for h in hpas if scaling_active(h)[0] and hpa_value(h) is not None)
        if ok != last:
            log(f"  {system.name}: {ok}/{n} HPAs have a value ({time.monotonic() - t0:.0f} s)")
            last = ok
        if ok == n:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{system.name}: only {ok}/{n} HPAs active after {timeout} s")
        time.sleep(3)


def check_correct(api, system, n, truth):
    """Every group's served value == ConsumerGroupCommand's lag; every HPA shows it."""
    bad = []
    t0 = time.monotonic()
    for i in range(n):
        st, v = served_value(api, system.metric_path(i))
        if st != 200 or v is None or abs(v - truth[group(i)]) > 1e-6:
            bad.append((group(i), st, v, truth[group(i)]))
    served_s = time.monotonic() - t0
    hpa_bad = []
    hpas = {h["metadata"]["name"]: h for h in api.json(HPAS)["items"]}
    for i in range(n):
        hv = hpa_value(hpas[system.hpa_name(i)])
        want = truth[group(i)]
        if hv is None or not hv[1] or abs(hv[0] * hv[1] - want) > 0.002 * hv[1] + 1e-6:
            hpa_bad.append((system.hpa_name(i), hv, want))
    if bad or hpa_bad:
        raise AssertionError(f"{system.name}: wrong values served {bad[:5]} ({len(bad)}); "
                             f"HPAs showing other values {hpa_bad[:5]} ({len(hpa_bad)})")
    return {"groups_checked": n, "served_equal_cgc": n, "hpas_equal_cgc": n,
            "check_s": round(served_s, 1)}


def latency(api, system, n, samples):
    paths = [system.metric_path(i) for i in range(n)]
    for p in paths[:3]:  # warm-up
        served_value(api, p)
    ms = []
    for _ in range(samples):
        p = random.choice(paths)
        t0 = time.perf_counter()
        st, body = api.req("GET", p)
        ms.append((time.perf_counter() - t0) * 1000)
        if st != 200:
            raise AssertionError(f"latency: {p} -> {st}: {body[:300]!r}")
    return {"samples": samples, "p50_ms": rnd(pct(ms, 50)), "p90_ms": rnd(pct(ms, 90)),
            "p99_ms": rnd(pct(ms, 99)), "mean_ms": rnd(statistics.mean(ms)),
            "max_ms": rnd(max(ms))}


def set_group_lag(ctx, i, per_partition):
    t = topic(i)
    kh.testkit("-b", ctx.kafka.bootstrap, "commit", group(i),
               *[f"{t}:{p}={ctx.ends[t][p] - per_partition}" for p in range(PARTITIONS)])


def freshness(api, system, ctx, probes, samples, sync_s, timeout=120):
    """Flips the lag of a probe group at a random phase of the HPA loop; seconds from the
    commit's return to the value served through the aggregator, and to the HPA's status."""
    runs = []
    hpa_path = f"{HPAS}/"
    try:
        for s in range(samples):
            i = probes[s % len(probes)]
            time.sleep(random.uniform(1.0, sync_s))
            new = PROBE_LAGS[1] if ctx.probe_lag.get(i, PROBE_LAGS[0]) == PROBE_LAGS[0] \
                else PROBE_LAGS[0]
            set_group_lag(ctx, i, new)
            t0 = time.monotonic()
            ctx.probe_lag[i] = new
            want = new * PARTITIONS
            t_served = t_hpa = None
            while t_served is None or t_hpa is None:
                now = time.monotonic()
                if now - t0 > timeout:
                    raise AssertionError(f"{system.name}: probe {workload(i)} did not see lag "
                                         f"{want} within {timeout} s (served {t_served}, hpa "
                                         f"{t_hpa})")
                if t_served is None:
                    st, v = served_value(api, system.metric_path(i))
                    if st == 200 and v is not None and abs(v - want) < 1e-6:
                        t_served = time.monotonic() - t0
                if t_hpa is None:
                    hv = hpa_value(api.json(hpa_path + system.hpa_name(i)))
                    if hv and hv[1] and abs(hv[0] * hv[1] - want) <= 0.002 * hv[1] + 1e-6:
                        t_hpa = time.monotonic() - t0
                time.sleep(max(0.0, 0.1 - (time.monotonic() - now)))
            runs.append({"probe": workload(i), "lag": want, "served_s": rnd(t_served),
                         "hpa_s": rnd(t_hpa)})
            log(f"  freshness {workload(i)}: served after {t_served:.2f} s, HPA after "
                f"{t_hpa:.2f} s")
    finally:
        for i in probes:  # back to the setup's lag: the truth stays what ConsumerGroupCommand said
            if ctx.probe_lag.get(i, PROBE_LAGS[0]) != PROBE_LAGS[0]:
                set_group_lag(ctx, i, PROBE_LAGS[0])
                ctx.probe_lag[i] = PROBE_LAGS[0]
    served = [r["served_s"] for r in runs]
    hpa = [r["hpa_s"] for r in runs]
    return {"runs": runs, "served_median_s": rnd(statistics.median(served)),
            "served_max_s": rnd(max(served)), "hpa_median_s": rnd(statistics.median(hpa)),
            "hpa_max_s": rnd(max(hpa))}


def kafka_down(api, system, ctx, n, seconds):
    """Stops the broker for SECONDS: what the aggregator answers for a probe group, what every
    HPA does; then starts it and waits until every value and HPA is back."""
    names = {system.hpa_name(i): i for i in range(n)}

    def snapshot():
        out = {}
        for h in api.json(HPAS)["items"]:
            nm = h["metadata"]["name"]
            if nm in names:
                act, reason = scaling_active(h)
                out[nm] = {"desired": h.get("status", {}).get("desiredReplicas"),
                           "active": act, "reason": reason}
        return out

    before = snapshot()
    probe_path = system.metric_path(0)
    log(f"  {system.name}: stopping the broker for {seconds} s")
    ctx.kafka.stop()
    t_down = time.monotonic()
    series = []
    first_error = None
    while time.monotonic() - t_down < seconds:
        t = time.monotonic() - t_down
        try:
            st, body = api.req("GET", probe_path, timeout=15)
        except OSError as e:
            st, body = f"error {e}", b""
        if st != 200 and first_error is None:
            first_error = {"after_s": rnd(t, 1), "status": st,
                           "message": body[:200].decode(errors="replace")}
            log(f"  {system.name}: aggregator answers {st} after {t:.1f} s")
        snap = snapshot()
        series.append({"t": rnd(t, 1), "probe_status": st,
                       "hpas_active": sum(1 for v in snap.values() if v["active"]),
                       "desired_total": sum(v["desired"] or 0 for v in snap.values()),
                       "changed": sum(1 for k, v in snap.items()
                                      if v["desired"] != before[k]["desired"])})
        time.sleep(3)
    end = snapshot()
    reasons = {}
    for v in end.values():
        reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
    with_fb = [k for k in end if names[k] % 2 == 1]
    without_fb = [k for k in end if names[k] % 2 == 0]

    def moved(keys):
        return {"hpas": len(keys),
                "desired_changed": sum(1 for k in keys
                                       if end[k]["desired"] != before[k]["desired"]),
                "desired_now": sorted({end[k]["desired"] for k in keys}),
                "desired_before": sorted({before[k]["desired"] for k in keys})}

    log(f"  {system.name}: starting the broker again")
    ctx.kafka.start()
    t_up = time.monotonic()
    truth0 = ctx.truth[group(0)]
    t_value = t_all = None
    while t_all is None:
        t = time.monotonic() - t_up
        if t > 300:
            raise AssertionError(f"{system.name}: not recovered 300 s after the broker came back")
        if t_value is None:
            try:
                st, v = served_value(api, probe_path)
                if st == 200 and v is not None and abs(v - truth0) < 1e-6:
                    t_value = t
            except OSError:
                pass
        if t_value is not None:
            snap = snapshot()
            if all(v["active"] for v in snap.values()):
                t_all = time.monotonic() - t_up
        time.sleep(1)
    log(f"  {system.name}: value back {t_value:.1f} s, all HPAs active {t_all:.1f} s after "
        "the broker's start returned")
    return {"down_s": seconds, "first_error": first_error, "series": series,
            "hpa_reasons_at_end": reasons,
            "hpas_with_fallback": moved(with_fb) if system.name == "keda" else None,
            "hpas_without_fallback": moved(without_fb) if system.name == "keda" else None,
            "hpas": moved(list(end)),
            "value_back_s": rnd(t_value, 1), "all_hpas_active_s": rnd(t_all, 1)}


def reset_replicas(api, n):
    """After a round: every Deployment back to the replicas its lag asks for."""
    deps = {d["metadata"]["name"]: d["spec"]["replicas"] for d in api.json(DEPLOYMENTS)["items"]}
    for i in range(n):
        want = replicas_for(base_lag(i) * PARTITIONS)
        if deps.get(workload(i)) != want:
            api.merge_patch(f"{DEPLOYMENTS}/{workload(i)}", {"spec": {"replicas": want}})


def wait_gone(api, path, timeout=600):
    t0 = time.monotonic()
    while api.json(path)["items"]:
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{path}: objects left after {timeout} s")
        time.sleep(2)


def unregister(api):
    api.delete(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
    t0 = time.monotonic()
    while api.req("GET", f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")[0] != 404:
        if time.monotonic() - t0 > 60:
            raise AssertionError("APIService not deleted")
        time.sleep(0.5)


def measure(api, system, ctx, n, args, label, probes_cached):
    """One measured state: all HPAs active, values correct, steady window, latency,
    freshness."""
    res = {"system": label}
    res["correct"] = check_correct(api, system, n, ctx.truth)
    log(f"  {label}: all {n} values equal ConsumerGroupCommand's lag, through the aggregator "
        "and in every HPA")
    res["steady"] = steady_window(system.pids(), ctx.broker_port, args.steady)
    s = res["steady"]
    log(f"  {label}: RSS {s['rss_median_mib']} MiB (peak {s['vmhwm_mib']}), CPU "
        f"{s['cpu_cores']} cores, broker connections {s['broker_connections']} "
        f"({s['broker_connections_distinct']} distinct)")
    res["latency"] = latency(api, system, n, args.latency)
    log(f"  {label}: latency through the aggregator p50 {res['latency']['p50_ms']} ms, p99 "
        f"{res['latency']['p99_ms']} ms")
    sync_s = float(HPA_SYNC.rstrip("s"))
    res["freshness"] = guarded(label, "freshness", freshness, api, system, ctx, PROBES_LIVE,
                               args.fresh, sync_s)
    if probes_cached:
        res["freshness_cached"] = guarded(label, "freshness (useCachedMetrics)", freshness, api,
                                          system, ctx, PROBES_CACHED, args.fresh, sync_s)
    return res


def guarded(label, what, fn, *a):
    """FN(*A), or {"error": ...} when it fails: one failed phase is reported as such and the
    other figures of the round (already checked for correctness) are kept."""
    try:
        return fn(*a)
    except (AssertionError, OSError, RuntimeError) as e:  # kh.CommandError is a RuntimeError
        log(f"  {label}: {what} FAILED: {e}")
        return {"error": f"{type(e).__name__}: {e}"[:2000]}


def round_kos(api, ctx, n, args):
    sysk = KosSystem(ctx)
    out = {}
    try:
        sysk.start()
        ctx.cp.wait_apiservice_available(APISERVICE, timeout=120)
        t0 = time.monotonic()
        sysk.create_scalers(api, range(n))
        setup = wait_all_active(api, sysk, n, 180 + 0.6 * n)
        log(f"  kos: {n} HPAs active {setup:.1f} s after the first was created")
        out = measure(api, sysk, ctx, n, args, "kos", probes_cached=False)
        out["setup_s"] = rnd(setup, 1)
        out["created_s"] = rnd(time.monotonic() - t0, 1)
        if n in args.kafka_down:
            out["kafka_down"] = guarded("kos", "Kafka down", kafka_down, api, sysk, ctx, n,
                                        args.down_seconds)
    finally:
        sysk.delete_scalers(api)
        wait_gone(api, HPAS)
        sysk.stop()
        unregister(api)
        reset_replicas(api, n)
    return {"kos": out}


def round_keda(api, ctx, n, args, variants):
    """keda-1s then keda (30 s default), processes restarted in between; Kafka down last."""
    sysk = KedaSystem(ctx)
    out = {}
    first = True
    try:
        for v in variants:
            polling = 1 if v == "keda-1s" else None
            if not first:
                sysk.stop()
                sysk.set_polling(api, range(n), polling)  # None: back to KEDA's default
            sysk.start()
            ctx.cp.wait_apiservice_available(APISERVICE, timeout=120)
            created = first
            if first:
                sysk.create_scalers(api, range(n), polling)
            first = False
            setup = wait_all_active(api, sysk, n, 300 + 1.0 * n)
            sysk.learn_paths(api)
            log(f"  {v}: {n} HPAs active {setup:.1f} s after start")
            res = measure(api, sysk, ctx, n, args, v, probes_cached=True)
            # after a restart the HPAs still show the last values: no setup time to report
            res["setup_s"] = rnd(setup, 1) if created else None
            res["polling_interval_s"] = polling or 30
            if v == "keda" and n in args.kafka_down:
                res["kafka_down"] = guarded(v, "Kafka down", kafka_down, api, sysk, ctx, n,
                                            args.down_seconds)
            out[v] = res
    finally:
        if sysk.keda:
            sysk.delete_scalers(api)
            wait_gone(api, SCALEDOBJECTS)
            wait_gone(api, HPAS)
            sysk.stop()
        unregister(api)
        reset_replicas(api, n)
    return out


# --- setup --------------------------------------------------------------------------------------


class Ctx:
    pass


def grow(ctx, api, n_from, n_to):
    """Groups, commits and Deployments for workloads [n_from, n_to); then the truth from
    ConsumerGroupCommand for all groups, which must equal what was committed."""
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda i: set_group_lag(ctx, i, base_lag(i)), range(n_from, n_to)))
    log(f"committed offsets for {n_to - n_from} groups in {time.monotonic() - t0:.1f} s")
    for i in range(n_from, n_to):
        api.create(DEPLOYMENTS, deployment(i, replicas_for(base_lag(i) * PARTITIONS)))
    t0 = time.monotonic()
    while True:
        deps = api.json(DEPLOYMENTS)["items"]
        ready = sum(1 for d in deps
                    if d.get("status", {}).get("readyReplicas") == d["spec"]["replicas"])
        if ready == n_to:
            break
        if time.monotonic() - t0 > 300:
            raise AssertionError(f"only {ready}/{n_to} Deployments ready after 300 s (kwok)")
        time.sleep(2)
    pods = sum(d["spec"]["replicas"] for d in deps)
    log(f"{n_to} Deployments ready ({pods} kwok pods) in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    rows = kh.cgc_describe_all(ctx.kafka.bootstrap)
    truth = {}
    for r in rows:
        if r["group"].startswith("kb-g"):
            truth[r["group"]] = truth.get(r["group"], 0) + (r["lag"] or 0)
    want = {group(i): base_lag(i) * PARTITIONS for i in range(n_to)}
    if truth != want:
        diff = {g: (truth.get(g), want.get(g)) for g in set(truth) | set(want)
                if truth.get(g) != want.get(g)}
        raise AssertionError(f"ConsumerGroupCommand disagrees with the committed lag: "
                             f"{list(diff.items())[:10]}")
    log(f"ConsumerGroupCommand: {len(truth)} groups, lag as committed "
        f"({time.monotonic() - t0:.1f} s)")
    ctx.truth = truth
    return pods


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--variants", default="kos,keda-1s,keda")
    ap.add_argument("--steady", type=float, default=60.0, help="seconds of the steady window")
    ap.add_argument("--latency", type=int, default=200, help="requests per latency run")
    ap.add_argument("--fresh", type=int, default=4, help="freshness samples per probe kind")
    ap.add_argument("--kafka-down", default="10,100", help="sizes with a Kafka-down phase")
    ap.add_argument("--down-seconds", type=int, default=90)
    ap.add_argument("--png", default=str(HERE / "results" / "keda.png"))
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.sizes.split(","))
    args.kafka_down = {int(x) for x in args.kafka_down.split(",") if x}
    variants = args.variants.split(",")
    kos_k8s.binary("kube-apiserver")  # FileNotFoundError naming install-k8s.sh
    log("scripts/install-keda.sh (builds KEDA once) ...")
    keda_dir = kos_keda.install()
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
               "keda_version": kos_keda.version(), "hpa_sync_period": HPA_SYNC,
               "kcm_args": KCM_ARGS, "loadavg_start": os.getloadavg(), "sizes": {}}
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kos-bench-keda-") as tmp:
        ctx = Ctx()
        ctx.tmp = Path(tmp)
        ctx.keda_dir = keda_dir
        ctx.kos_certs = ka.make_certs(ctx.tmp / "certs")
        ctx.probe_lag = {}
        log(f"starting the control plane (HPA sync {HPA_SYNC}, {' '.join(KCM_ARGS)}) and Kafka")
        with kos_k8s.ControlPlane(ctx.tmp / "k8s", hpa_sync_period=HPA_SYNC,
                                  kcm_args=KCM_ARGS) as cp, \
                kh.KafkaBroker(ctx.tmp / "kafka") as kafka:
            ctx.cp, ctx.kafka = cp, kafka
            ctx.broker_port = int(kafka.bootstrap.rsplit(":", 1)[1])
            api = Api(cp)
            kos_keda.apply_crds(cp, keda_dir)
            cp.kubectl("create", "namespace", NS)
            ctx.ends = {}
            for t in range(TOPICS):
                name = topic(t)
                kh.testkit("-b", kafka.bootstrap, "create-topic", name, PARTITIONS)
                ctx.ends[name] = [int(kh.testkit("-b", kafka.bootstrap, "produce", name, p,
                                                 BASE_RECORDS)) + 1
                                  for p in range(PARTITIONS)]
            log(f"{TOPICS} topics x {PARTITIONS} partitions, {BASE_RECORDS} records each")
            n_prev = 0
            for k, n in enumerate(sizes):
                log(f"=== N = {n} ===")
                pods = grow(ctx, api, n_prev, n)
                n_prev = n
                entry = {"workloads": n, "kwok_pods": pods, "rounds": {}}
                order = variants if k % 2 == 0 else list(reversed(variants))
                done_keda = False
                for v in order:
                    try:
                        if v == "kos":
                            log(f"round kos, N = {n}")
                            entry["rounds"].update(round_kos(api, ctx, n, args))
                        elif not done_keda:
                            kv = [x for x in order if x.startswith("keda")]
                            kv.sort(key=lambda x: x != "keda-1s")  # 1 s first, default last
                            log(f"round {' then '.join(kv)}, N = {n}")
                            done_keda = True
                            entry["rounds"].update(round_keda(api, ctx, n, args, kv))
                    except (AssertionError, OSError, RuntimeError) as e:
                        # no figure from this round; the error is in the results and the table
                        log(f"round {v}, N = {n} FAILED: {e}")
                        entry.setdefault("errors", {})[v] = f"{type(e).__name__}: {e}"[:3000]
                entry["ratios"] = ratios(entry["rounds"])
                log(f"N = {n}: {json.dumps(entry['ratios'])}")
                results["sizes"][str(n)] = entry
                save(results)
                print(table(results), flush=True)  # what is measured so far, size by size
                try_plot(results, args.png)
            api.close()
    results["loadavg_end"] = os.getloadavg()
    results["wall_s"] = round(time.monotonic() - t_all, 1)
    results["goals"] = goals(results)
    save(results)
    print(table(results))
    print(json.dumps(results["goals"], indent=1))
    try_plot(results, args.png)


def try_plot(results, path):
    try:
        plot(results, path)
        log(f"plot: {path}")
    except ImportError as e:
        log(f"no plot ({e}): /usr/bin/python3 with python3-matplotlib draws it")


def ratios(rounds):
    k = rounds.get("kos")
    out = {}
    if not k:
        return out
    for v in ("keda", "keda-1s"):
        r = rounds.get(v)
        if not r:
            continue
        out[v] = {
            "memory_keda_over_kos": rnd(r["steady"]["rss_median_mib"]
                                        / k["steady"]["rss_median_mib"], 2),
            "peak_memory_keda_over_kos": rnd(r["steady"]["vmhwm_mib"]
                                             / k["steady"]["vmhwm_mib"], 2),
            "connections_keda_over_kos": rnd(r["steady"]["broker_connections"]
                                             / max(1, k["steady"]["broker_connections"]), 2),
            "cpu_keda_over_kos": rnd(r["steady"]["cpu_cores"]
                                     / max(1e-3, k["steady"]["cpu_cores"]), 2),
            "latency_p50_keda_over_kos": rnd(r["latency"]["p50_ms"] / k["latency"]["p50_ms"], 2),
            "latency_p99_keda_over_kos": rnd(r["latency"]["p99_ms"] / k["latency"]["p99_ms"], 2),
        }
    return out


def goals(results):
    big = results["sizes"].get(str(max(int(s) for s in results["sizes"])))
    if not big:
        return {}
    r = big["rounds"]
    out = {"at_workloads": big["workloads"]}
    if "kos" in r and "keda" in r:
        out["memory_ge_10x"] = big["ratios"]["keda"]["memory_keda_over_kos"] >= 10
        out["connections_ge_10x"] = big["ratios"]["keda"]["connections_keda_over_kos"] >= 10
    if "kos" in r and "keda-1s" in r and not any(
            "error" in (x or {}) for x in (r["kos"]["freshness"], r["keda-1s"]["freshness"],
                                           r["keda-1s"].get("freshness_cached"))):
        # equal polling: kos refreshes every 1 s, KEDA's loop polls every 1 s
        k, e = r["kos"]["freshness"], r["keda-1s"]
        out["fresher_at_equal_polling"] = {
            "hpa_kos_vs_keda_live_s": [k["hpa_median_s"], e["freshness"]["hpa_median_s"]],
            "hpa_kos_vs_keda_cached_s": [k["hpa_median_s"],
                                         e["freshness_cached"]["hpa_median_s"]],
            "served_kos_vs_keda_cached_s": [k["served_median_s"],
                                            e["freshness_cached"]["served_median_s"]],
            "met": k["hpa_median_s"] <= min(e["freshness"]["hpa_median_s"],
                                            e["freshness_cached"]["hpa_median_s"]),
        }
    return out


def save(results):
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "keda.json").write_text(json.dumps(results, indent=1) + "\n")


def fmt(x, spec):
    """X formatted with SPEC, or "-" when it is missing (a failed phase, no setup time)."""
    return "-" if x is None else format(x, spec)


def table(results):
    lines = ["== kos-adapter vs KEDA %s, HPA sync %s, medians of the steady window ==" % (
        results["keda_version"], results["hpa_sync_period"]),
        f"{'N':>5s} {'system':8s} {'RSS MiB':>8s} {'peak':>7s} {'CPU':>6s} {'conns':>6s} "
        f"{'seen':>5s} {'lat p50':>8s} {'p99 ms':>8s} {'fresh served/HPA s (live)':>26s} "
        f"{'cached':>14s} {'setup s':>8s}"]
    for n, e in results["sizes"].items():
        for v in ("kos", "keda-1s", "keda"):
            r = e["rounds"].get(v)
            if not r:
                if v in e.get("errors", {}):
                    lines.append(f"{n:>5s} {v:8s} FAILED: {e['errors'][v][:150]}")
                continue
            s, la, f = r["steady"], r["latency"], r["freshness"]
            fc = r.get("freshness_cached")

            def fr(x):
                if not x:
                    return "-"
                if "error" in x:
                    return "FAILED"
                return f"{x['served_median_s']:.2f} / {x['hpa_median_s']:.2f}"
            lines.append(
                f"{n:>5s} {v:8s} {s['rss_median_mib']:8.1f} {s['vmhwm_mib']:7.1f} "
                f"{s['cpu_cores']:6.2f} {s['broker_connections']:6d} "
                f"{s['broker_connections_distinct']:5d} {la['p50_ms']:8.2f} "
                f"{la['p99_ms']:8.2f} {fr(f):>26s} {fr(fc):>14s} {fmt(r.get('setup_s'), '8.1f'):>8s}")
        for v, q in e.get("ratios", {}).items():
            lines.append(f"{n:>5s} {v + '/kos':15s} memory {q['memory_keda_over_kos']}x, peak "
                         f"{q['peak_memory_keda_over_kos']}x, connections "
                         f"{q['connections_keda_over_kos']}x, CPU {q['cpu_keda_over_kos']}x, "
                         f"latency p50 {q['latency_p50_keda_over_kos']}x p99 "
                         f"{q['latency_p99_keda_over_kos']}x")
        for v in ("kos", "keda"):
            kd = e["rounds"].get(v, {}).get("kafka_down")
            if kd and "error" in kd:
                lines.append(f"{n:>5s} {v:8s} Kafka down: FAILED {kd['error'][:200]}")
            elif kd:
                fe = kd["first_error"] or {}
                lines.append(
                    f"{n:>5s} {v:8s} Kafka down {kd['down_s']} s: aggregator {fe.get('status')} "
                    f"after {fe.get('after_s')} s; HPA reasons {kd['hpa_reasons_at_end']}; "
                    f"desired changed {kd['hpas']['desired_changed']}/{kd['hpas']['hpas']}"
                    + (f" (with fallback {kd['hpas_with_fallback']['desired_changed']}/"
                       f"{kd['hpas_with_fallback']['hpas']} -> "
                       f"{kd['hpas_with_fallback']['desired_now']})"
                       if kd.get("hpas_with_fallback") else "")
                    + f"; back: value {kd['value_back_s']} s, all HPAs {kd['all_hpas_active_s']} s")
    return "\n".join(lines)


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(int(n) for n in results["sizes"])
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    styles = {"kos": ("tab:blue", "o"), "keda": ("tab:red", "s"), "keda-1s": ("tab:orange", "^")}
    labels = {"kos": "kos-adapter (refresh 1 s)", "keda": "KEDA (pollingInterval 30 s)",
              "keda-1s": "KEDA (pollingInterval 1 s)"}

    def series(v, f):
        xs, ys = [], []
        for n in ns:
            r = results["sizes"][str(n)]["rounds"].get(v)
            if r:
                try:
                    y = f(r)
                except (KeyError, TypeError):  # a failed phase has no figure
                    y = None
                if y is not None:
                    xs.append(n)
                    ys.append(y)
        return xs, ys

    panels = [
        (axes[0][0], "memory (RSS, MiB; KEDA: operator + adapter)",
         lambda r: r["steady"]["rss_median_mib"], True),
        (axes[0][1], "Kafka broker connections", lambda r: r["steady"]["broker_connections"],
         True),
        (axes[0][2], "CPU (cores, steady window)", lambda r: r["steady"]["cpu_cores"], True),
        (axes[1][0], "external metric via aggregator, p50 / p99 (ms)",
         lambda r: r["latency"]["p50_ms"], True),
        (axes[1][1], "lag change -> HPA status (s, median)",
         lambda r: r["freshness"]["hpa_median_s"], False),
        (axes[1][2], "lag change -> served value (s, median)",
         lambda r: r["freshness"]["served_median_s"], False),
    ]
    for ax, title, f, logy in panels:
        for v in ("kos", "keda-1s", "keda"):
            c, m = styles[v]
            xs, ys = series(v, f)
            if xs:
                ax.plot(xs, ys, marker=m, color=c, label=labels[v])
        ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("workloads (HPAs / ScaledObjects)")
        ax.grid(True, which="both", alpha=0.3)
    for v in ("kos", "keda-1s", "keda"):
        c, m = styles[v]
        xs, ys = series(v, lambda r: r["latency"]["p99_ms"])
        if xs:
            axes[1][0].plot(xs, ys, marker=m, color=c, linestyle="--")
        for ax, key in ((axes[1][1], "hpa_median_s"), (axes[1][2], "served_median_s")):
            xs, ys = series(v, lambda r, key=key: (r.get("freshness_cached") or {}).get(key))
            if xs:
                ax.plot(xs, ys, marker=m, color=c, linestyle=":",
                        label=labels[v] + ", useCachedMetrics")
    axes[0][0].legend(fontsize=8)
    axes[1][2].legend(fontsize=7)
    fig.suptitle(f"kos-adapter vs KEDA {results['keda_version']} (Kafka scaler), one broker, "
                 f"HPA sync {results['hpa_sync_period']}, {results['cpus']} cores")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
