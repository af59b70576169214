#!/usr/bin/python3
"""The demo's --cluster mode (scripts/demo.sh --cluster), run inside tests/harness/node.sh run:
the original scenario on a real node, seen from the cluster. A control plane, a KRaft broker and
a containerd + kubelet node start in the demo's own network namespace; kos is deployed with
`kubectl apply -k` (a user overlay on manifests/overlays/node: 2 adapter pods behind the
APIServices, the processor HPA on the seed's two Pods metrics, the generators' HPA on headroom);
the generators' rate follows a profile (calm, a surge, calm) and the real HPA starts and stops
real kos-processor pods. Progress is printed like `kubectl get hpa,pods -w` (a line when
something changes); lag, processor replicas and generated frames/s go to the same PNG as the
local demo draws.

    node.sh run -- demo_cluster.py --png out/demo.png [--short] [--hpa-sync 5s]
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "harness"))
sys.path.insert(0, str(REPO / "scripts"))
import demo_autoscale  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402
import kos_node as kn  # noqa: E402

TARGET = 3000  # messages per pod and topic: the processor HPA's AverageValue in this demo


def say(msg):
    print(f"\n\033[1m== {msg}\033[0m", flush=True)


def profile_rate(t, profile):
    """Frames/s per generator pod at second T of PROFILE [(until_s, rate)]."""
    for until, rate in profile:
        if t < until:
            return rate
    return profile[-1][1]


def achieved_rate(cp):
    """Sum of the generators' achieved frames/s (their /metrics)."""
    total = 0.0
    for _, phase, _, ip, _ in kn.pods(cp, "kos-datagen"):
        if phase != "Running" or not ip:
            continue
        try:
            st, text = kn.http("GET", ip, 8080, "/metrics", timeout=2)
        except OSError:
            continue
        m = re.search(r"^kos_datagen_achieved_rate\s+(\S+)", text, re.M)
        if st == 200 and m:
            total += float(m.group(1))
    return total


def external_lag(cp):
    r = cp.kubectl("get", "--raw", kn.EXTERNAL_LAG, check=False)
    if r.returncode != 0:
        return None
    items = json.loads(r.stdout).get("items", [])
    return sum(demo_autoscale.quantity(i["value"]) for i in items) if items else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--png", default=str(REPO / "out" / "demo.png"))
    ap.add_argument("--json", default="")
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--hpa-sync", default="5s", help="kube-controller-manager's HPA sync period")
    ap.add_argument("--workdir", default="")
    a = ap.parse_args()
    kn.require_inside()
    work = Path(a.workdir or os.environ["KOS_NODE_RUN"]) / "demo"
    work.mkdir(parents=True, exist_ok=True)
    # (until second, frames/s per generator): calm, a surge, calm
    if a.short:
        profile = [(20, 200), (45, 6000), (120, 200)]
    else:
        profile = [(25, 200), (70, 8000), (180, 200)]
    duration = profile[-1][0]

    say("building the image (buildah) and starting the cluster in the demo's network namespace")
    image = kn.build_image()
    with kos_k8s.ControlPlane(work / "k8s", hpa_sync_period=a.hpa_sync) as cp, \
            kh.KafkaBroker(work / "kafka") as kafka, kn.Node(cp, images=[image]):
        print(f"kube-apiserver {cp.apiserver_url}, node kos-node at {kn.node_ip()}, "
              f"Kafka {kafka.bootstrap}; kubeconfig {cp.kubeconfig}")
        say("kubectl apply -k (overlays/node + this demo's HPA targets)")
        kn.create_topics(kafka.bootstrap)
        m = kn.prepare_manifests(work / "m")
        kn.create_kafka_secrets(cp, kafka.bootstrap)
        overlay = kn.overlay_for(m, work / "user", "pods", TARGET, datagen_rate=profile[0][1])
        print(cp.kubectl("apply", "-k", overlay), end="")
        for name in kn.APISERVICES:
            cp.wait_apiservice_available(name, timeout=180)
        cp.wait_ready_pods(2, kn.NS, "app.kubernetes.io/name=kos-adapter", timeout=180)
        print(cp.kubectl("get", "apiservices", "-l", "app.kubernetes.io/name=kos-adapter"), end="")

        say(f"the scenario ({duration} s): generators' rate per pod {profile}; "
            f"processor HPA target {TARGET} per pod and topic")
        series, seen, t0, rate = [], {}, time.monotonic(), None
        while (now := time.monotonic() - t0) < duration:
            want = profile_rate(now, profile)
            if want != rate:
                reached = kn.set_datagen_rate(cp, want)
                if reached:
                    rate = want
            out = cp.kubectl("get", "hpa,pods", "-n", kn.NS, "--no-headers", check=False).stdout
            rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
            for name, line in rows.items():
                # like -w: a line when a row changes (its AGE column aside)
                if seen.get(name, "").rsplit(None, 1)[:1] != line.rsplit(None, 1)[:1]:
                    print(f"{now:6.1f}s  {line}", flush=True)
            for name in seen.keys() - rows.keys():
                print(f"{now:6.1f}s  {name} gone", flush=True)
            seen = rows
            lag = external_lag(cp)
            replicas = len([p for p in kn.pods(cp, "kos-processor") if p[1] == "Running"])
            series.append((round(now, 2), lag, replicas, achieved_rate(cp)))
            time.sleep(2)

        say("what the HPA reads now (kubectl get --raw through the aggregator)")
        for metric in ("consumer_lag_game_frame_rq", "consumer_lag_game_frame_rs"):
            print(cp.kubectl("get", "--raw", "/apis/custom.metrics.k8s.io/v1beta2/namespaces/kos/"
                             f"pods/%2A/{metric}?labelSelector=app.kubernetes.io%2Fname%3D"
                             "kos-processor"))
        print(kh.kafka_sh("cgc", "--bootstrap-server", kafka.bootstrap, "--describe",
                          "--group", kn.GROUP))
        print(cp.kubectl("get", "hpa,deployments", "-n", kn.NS), end="")

    Path(a.png).parent.mkdir(parents=True, exist_ok=True)
    if a.json:
        Path(a.json).write_text(json.dumps(series))
    demo_autoscale.plot(series, a.png, TARGET)
    peak = max(s[2] for s in series)
    print(f"\nplot: {a.png} (lag, processor pods and generated frames/s, from the cluster); "
          f"processor pods peaked at {peak}")


if __name__ == "__main__":
    main()
