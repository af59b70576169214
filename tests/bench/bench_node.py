#!/usr/bin/env python3
"""kos on a real node (issue 10, "Measured"): one command, one cluster, side by side with its
anchors. Re-runs itself inside tests/harness/node.sh run (its own network namespace), starts the
control plane with the default 15 s HPA sync period, a KRaft broker and a containerd + kubelet
node, and deploys kos with kubectl apply -k (a user overlay on manifests/overlays/node, processor
HPA on the seed's Pods metrics with a target of TARGET messages per pod and topic).

  1. image: uncompressed size of scripts/build-image.sh's image; anchor: the debootstrap'ed
     debian:bookworm-slim base the Dockerfile builds on (built by --dockerfile, if present).
  2. cold start of an adapter pod: the adapter Deployment at 0 replicas (APIServices
     unavailable), then 1; seconds from the scale command to the pod's container started, to
     the pod Ready, to all three APIServices Available. 5 runs, medians. Anchor: the pod's own
     process start -> Ready (what a local process costs) inside the same runs.
  3. memory: VmRSS and VmHWM of every kos process in its container (found through the node's
     containerd: task pid -> /proc) with the processor at 4 pods under load; anchor: each
     container's memory request.
  4. HPA reaction on real pods, 15 s sync: the processor at 1 pod, the generators' rate raised;
     seconds from the moment the per-pod metric the HPA reads crosses the target (polled
     through the aggregator every 0.5 s) to spec.replicas > 1, to the new pod Running, to its
     consumer holding partitions (kafka-consumer-groups). 5 runs, drained to 1 in between;
     medians; anchor: the sync period (ratio).

Usage: /usr/bin/python3 tests/bench/bench_node.py [--runs 5] [--only image,cold,rss,reaction]
Needs root, scripts/install-k8s.sh (kubelet, kube-scheduler), the build tree (kos-testkit).
Prints a table and writes tests/bench/results/node.json (git-ignored). ~15 minutes.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402
import kos_node as kn  # noqa: E402

NS = kn.NS
TARGET = 1000
PODS_RQ = ("/apis/custom.metrics.k8s.io/v1beta2/namespaces/kos/pods/%2A/"
           "consumer_lag_game_frame_rq?labelSelector=app.kubernetes.io%2Fname%3Dkos-processor")
PODS_RS = PODS_RQ.replace("_rq?", "_rs?")
PROGRAMS = {"kos-adapter": "kos-adapter", "kos-processor": "kos-processor",
            "kos-datagen": "kos-datagen"}


def log(msg):
    print(f"[bench_node {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def med(xs):
    return statistics.median(xs) if xs else None


def buildah_size(ref):
    cache = Path(os.environ.get("KOS_CACHE") or Path.home() / ".cache" / "kos")
    p = subprocess.run(["buildah", "--root", cache / "containers" / "storage", "--runroot",
                        cache / "containers" / "run", "--storage-driver", "overlay", "inspect",
                        "--type", "image", "--format", "{{.Size}}", ref],
                       capture_output=True, text=True)
    if p.returncode != 0:
        p = subprocess.run(["buildah", "--root", cache / "containers" / "storage", "--runroot",
                            cache / "containers" / "run", "--storage-driver", "overlay", "images",
                            "--noheading", "--format", "{{.Size}}", ref],
                           capture_output=True, text=True)
    return p.stdout.strip().split("\n")[0] or None


def parse_size(text):
    m = re.match(r"([\d.]+)\s*([kKMG]?B)", text or "")
    if not m:
        return None
    return float(m.group(1)) * {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}[m.group(2)]


def bench_image(image_tar):
    kos = buildah_size(kn.IMAGE)
    base = buildah_size("docker.io/library/debian:bookworm-slim")
    res = {"image": kos, "archive_bytes": image_tar.stat().st_size, "anchor_debian_base": base}
    if parse_size(kos) and parse_size(base):
        res["ratio_to_base"] = round(parse_size(kos) / parse_size(base), 3)
    log(f"image: {res}")
    return res


def apiservices_available(cp):
    items = cp.kubectl_json("get", "apiservices")["items"]
    ok = 0
    for a in items:
        if a["metadata"]["name"] in kn.APISERVICES:
            cond = {c["type"]: c["status"] for c in a.get("status", {}).get("conditions", [])}
            ok += cond.get("Available") == "True"
    return ok == len(kn.APISERVICES)


def ts(text):
    """RFC 3339 seconds -> epoch seconds."""
    import datetime
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def bench_cold(cp, runs):
    samples = []
    for i in range(runs):
        cp.kubectl("-n", NS, "scale", "deployment/kos-adapter", "--replicas=0")
        kos_k8s.wait_until(lambda: not kn.pods(cp, "kos-adapter") and
                           not apiservices_available(cp), 120, 0.5, "adapters gone")
        time.sleep(2)
        t0 = time.time()
        cp.kubectl("-n", NS, "scale", "deployment/kos-adapter", "--replicas=1")
        started = ready = None
        while time.time() - t0 < 180:
            p = kn.pods(cp, "kos-adapter")
            if p and p[0][1] == "Running" and started is None:
                started = time.time() - t0
            if p and p[0][2] and ready is None:
                ready = time.time() - t0
            if ready is not None and apiservices_available(cp):
                break
            time.sleep(0.1)
        available = time.time() - t0
        pod = cp.kubectl_json("get", "pods", "-n", NS, "-l", "app.kubernetes.io/name=kos-adapter")
        st = pod["items"][0]["status"]
        c_started = ts(st["containerStatuses"][0]["state"]["running"]["startedAt"])
        c_ready = [ts(c["lastTransitionTime"]) for c in st["conditions"] if c["type"] == "Ready"][0]
        samples.append({"running_s": started, "ready_s": ready, "available_s": available,
                        "process_to_ready_s": c_ready - c_started})
        log(f"cold start {i + 1}/{runs}: {samples[-1]}")
    cp.kubectl("-n", NS, "scale", "deployment/kos-adapter", "--replicas=2")
    cp.wait_ready_pods(2, NS, "app.kubernetes.io/name=kos-adapter", timeout=180)
    return {k: med([s[k] for s in samples if s[k] is not None]) for k in samples[0]} | {
        "runs": samples}


def task_pids(node):
    """{container id: pid} of the node's running tasks."""
    out = node.ctr("tasks", "ls")
    pids = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) >= 3 and f[2] == "RUNNING":
            pids[f[0]] = int(f[1])
    return pids


def status_kib(pid, key):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def bench_rss(cp, node):
    pids = task_pids(node)
    res = {}
    for app in PROGRAMS:
        doc = cp.kubectl_json("get", "pods", "-n", NS, "-l", f"app.kubernetes.io/name={app}")
        rows = []
        for p in doc["items"]:
            for c in p["status"].get("containerStatuses", []):
                cid = (c.get("containerID") or "").split("://")[-1]
                if cid in pids:
                    pid = pids[cid]
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
                    assert cmd.endswith(app), (cmd, app)
                    rows.append({"pod": p["metadata"]["name"], "rss_kib": status_kib(pid, "VmRSS"),
                                 "hwm_kib": status_kib(pid, "VmHWM")})
        req = doc["items"][0]["spec"]["containers"][0]["resources"]["requests"]["memory"]
        res[app] = {"pods": rows, "median_rss_kib": med([r["rss_kib"] for r in rows]),
                    "max_hwm_kib": max(r["hwm_kib"] for r in rows), "anchor_request": req}
        log(f"{app}: {res[app]}")
    return res


def max_pod_metric(cp):
    best = 0.0
    for path in (PODS_RQ, PODS_RS):
        r = cp.kubectl("get", "--raw", path, check=False)
        if r.returncode == 0:
            for i in json.loads(r.stdout)["items"]:
                v = i["value"]
                best = max(best, float(v[:-1]) / 1000 if v.endswith("m") else float(v))
    return best


def members(kafka):
    return kn.group_members(kafka.bootstrap)


def bench_reaction(cp, kafka, runs, sync_s):
    samples, attempts = [], 0
    # A median of RUNS samples: an attempt that does not complete (logged with how far it got)
    # is repeated, up to RUNS + 3 attempts in all.
    while len(samples) < runs and attempts < runs + 3:
        attempts += 1
        i = len(samples)
        kn.set_datagen_rate(cp, 100)
        kos_k8s.wait_until(lambda: cp.kubectl_json("get", "deployment", "kos-processor", "-n",
                                                   NS)["spec"]["replicas"] == 1 and
                           len(kn.pods(cp, "kos-processor")) == 1 and max_pod_metric(cp) < TARGET,
                           300, 1, "processor back at 1 pod, lag under the target")
        first = kn.pods(cp, "kos-processor")[0][0]
        time.sleep(5)
        t_start = time.time()
        rate = 2000
        kn.set_datagen_rate(cp, rate)
        t_cross = t_scale = t_running = t_assigned = below_since = None
        new = None
        last_raise = time.time()
        while time.time() - t_start < 240:
            now = time.time()
            if t_scale is None:
                # The crossing the HPA acts on is the last one before it scales: a spike that
                # the one pod drained and that stayed under the target for more than a sync
                # period does not count (it left attempts waiting 240 s for a scale-up with the
                # load no longer raised).
                if max_pod_metric(cp) > TARGET:
                    t_cross, below_since = t_cross or now, None
                elif t_cross is not None:
                    below_since = below_since or now
                    if now - below_since > sync_s + 5:
                        t_cross = below_since = None
            if t_cross is None and now - last_raise > 20:  # the processor keeps up: more load
                rate *= 2
                kn.set_datagen_rate(cp, rate)
                last_raise = now
            if t_cross is not None and t_scale is None and cp.kubectl_json(
                    "get", "deployment", "kos-processor", "-n", NS)["spec"]["replicas"] > 1:
                t_scale = now
            if t_scale is not None and t_running is None:
                others = [p for p in kn.pods(cp, "kos-processor") if p[0] != first and
                          p[1] == "Running"]
                if others:
                    t_running, new = now, others[0][0]
            if t_running is not None and members(kafka).get(new, 0) > 0:
                # after kafka-consumer-groups (a JVM, ~2 s) answered: an upper bound
                t_assigned = time.time()
                break
            time.sleep(0.5)
        kn.set_datagen_rate(cp, 100)
        if t_assigned is None:
            log(f"reaction attempt {attempts}: incomplete (cross {t_cross}, scale {t_scale}, "
                f"running {t_running}, new pod {new}; t0 {t_start})")
            continue
        s = {"to_scale_s": t_scale - t_cross, "to_running_s": t_running - t_cross,
             "to_assigned_s": t_assigned - t_cross, "rate_per_pod": rate}
        samples.append(s)
        log(f"reaction {i + 1}/{runs}: {s}")
    res = {k: med([s[k] for s in samples]) for k in ("to_scale_s", "to_running_s",
                                                      "to_assigned_s")}
    res["runs"] = samples
    res["attempts"] = attempts
    res["sync_period_s"] = sync_s
    if res["to_assigned_s"]:
        res["ratio_to_sync"] = round(res["to_assigned_s"] / sync_s, 2)
    return res


def load_until_4(cp, timeout=420):
    """Raises the generators' rate (doubling every 30 s: two HPA syncs) until the processor
    runs 4 pods."""
    rate, last, t0 = 2000, 0.0, time.time()
    while time.time() - t0 < timeout:
        if len([p for p in kn.pods(cp, "kos-processor") if p[1] == "Running" and p[2]]) == 4:
            return
        if time.time() - last > 30:
            kn.set_datagen_rate(cp, rate)
            log(f"load: {rate} frames/s per generator")
            rate, last = min(rate * 2, 40000), time.time()
        time.sleep(1)
    raise AssertionError("the processor never reached 4 pods under load")


def table(r):
    lines = ["", "kos on a real node (tests/bench/bench_node.py)"]
    if "image" in r:
        i = r["image"]
        lines.append(f"  image: {i['image']} uncompressed ({i['archive_bytes']} bytes archive); "
                     f"debian:bookworm-slim base {i['anchor_debian_base']} "
                     f"(ratio {i.get('ratio_to_base')})")
    if "cold" in r:
        c = r["cold"]
        lines.append(f"  adapter cold start (median of {len(c['runs'])}): Running "
                     f"{c['running_s']:.2f} s, Ready {c['ready_s']:.2f} s, APIServices Available "
                     f"{c['available_s']:.2f} s; process start -> Ready {c['process_to_ready_s']:.2f} s")
    if "rss" in r:
        for app, v in r["rss"].items():
            lines.append(f"  {app}: RSS median {v['median_rss_kib']} KiB over {len(v['pods'])} "
                         f"pods, peak {v['max_hwm_kib']} KiB (request {v['anchor_request']})")
    if "reaction" in r:
        x = r["reaction"]
        if x.get("to_assigned_s") is not None:
            lines.append(f"  HPA reaction (sync {x['sync_period_s']} s, median of {len(x['runs'])}):"
                         f" replicas {x['to_scale_s']:.1f} s, pod Running {x['to_running_s']:.1f} s,"
                         f" consumer assigned {x['to_assigned_s']:.1f} s after the lag crossed the "
                         f"target ({x.get('ratio_to_sync')} x the sync period)")
        for n, s in enumerate(x["runs"], 1):
            lines.append(f"    sample {n}: replicas {s['to_scale_s']:.1f} s, Running "
                         f"{s['to_running_s']:.1f} s, assigned {s['to_assigned_s']:.1f} s "
                         f"({s['rate_per_pod']} frames/s per generator)")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="image,cold,rss,reaction")
    ap.add_argument("--hpa-sync", default="15s")
    a = ap.parse_args()
    if not kn.inside():
        os.execv(str(kn.NODE_SH), [str(kn.NODE_SH), "run", "--", sys.executable, *sys.argv])
    only = set(a.only.split(","))
    results = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count()}
    root = Path(os.environ["KOS_NODE_RUN"]) / "bench"
    image = kn.build_image()
    if "image" in only:
        results["image"] = bench_image(image)
    with kos_k8s.ControlPlane(root / "k8s", hpa_sync_period=a.hpa_sync) as cp, \
            kh.KafkaBroker(root / "kafka") as kafka, kn.Node(cp, images=[image]) as node:
        kn.create_topics(kafka.bootstrap)
        m = kn.prepare_manifests(root / "m")
        kn.create_kafka_secrets(cp, kafka.bootstrap)
        cp.kubectl("apply", "-k", kn.overlay_for(m, root / "user", "pods", TARGET))
        for name in kn.APISERVICES:
            cp.wait_apiservice_available(name, timeout=180)
        cp.wait_ready_pods(2, NS, "app.kubernetes.io/name=kos-adapter", timeout=180)
        if "cold" in only:
            results["cold"] = bench_cold(cp, a.runs)
        if "rss" in only:
            load_until_4(cp)
            time.sleep(10)
            results["rss"] = bench_rss(cp, node)
            kn.set_datagen_rate(cp, 100)
        if "reaction" in only:
            sync = float(a.hpa_sync.rstrip("s"))
            results["reaction"] = bench_reaction(cp, kafka, a.runs, sync)
    out = HERE / "results" / "node.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(table(results))
    print(f"results: {out}")


if __name__ == "__main__":
    main()
