#!/usr/bin/python3
"""The demo's --cluster mode (scripts/demo.sh --cluster), run inside tests/harness/node.sh run:
the original scenario on a real node, seen from the cluster. A control plane, a KRaft broker and
a containerd + kubelet node start in the demo's own network namespace; kos is deployed with
`kubectl apply -k` (a user overlay on manifests/overlays/node: 2 adapter pods behind the
APIServices, the processor HPA on the seed's two Pods metrics, the generators' HPA on headroom);
the generators' rate follows a profile (calm, a surge raised until the HPA asks for 4 pods,
calm until it is back at 1) and the real HPA starts and stops
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


class Profile:
    """The generators' rate per pod over the scenario: calm, a surge, calm. The surge starts at
    SURGE frames/s and doubles every STEP_S seconds (up to MAX) while the processor HPA asks
    for fewer than 4 pods: how much load one pod keeps up with depends on the machine (a
    processor drains ~250k records/s on a free core), so the demo raises it until the lag does
    what the original's surge did. Once 4 pods are asked for, the rate holds HOLD_S seconds;
    then calm until the HPA is back at 1 pod and the lag under the target, or CALM_MAX_S."""

    CALM, SURGE, MAX = 200, 4000, 40000

    def __init__(self, short):
        self.calm_s, self.step_s, self.surge_max_s, self.hold_s, self.calm_max_s = (
            (15, 8, 60, 10, 120) if short else (25, 10, 90, 20, 150))
        self.phase, self.since, self.rate, self.raised = "calm", 0.0, self.CALM, 0.0

    def describe(self):
        return (f"calm {self.CALM}/s for {self.calm_s} s; surge from {self.SURGE}/s, doubling "
                f"every {self.step_s} s (up to {self.MAX}/s) until the HPA asks for 4 pods, "
                f"held {self.hold_s} s; calm {self.CALM}/s until the HPA is back at 1 pod")

    def step(self, t, wanted, running, lag):
        """The rate at second T, given the HPA's spec.replicas WANTED, the processor pods
        RUNNING and the LAG; None when the scenario is over."""
        if self.phase == "calm" and t >= self.calm_s:
            self.phase, self.since, self.rate, self.raised = "surge", t, self.SURGE, t
        elif self.phase == "surge":
            if wanted >= 4 or t - self.since >= self.surge_max_s:
                self.phase, self.since = "hold", t
            elif t - self.raised >= self.step_s and self.rate < self.MAX:
                self.rate, self.raised = min(self.rate * 2, self.MAX), t
        elif self.phase == "hold" and t - self.since >= self.hold_s:
            self.phase, self.since, self.rate = "drain", t, self.CALM
        elif self.phase == "drain":
            back = wanted == 1 and running == 1 and lag is not None and lag < TARGET
            if back or t - self.since >= self.calm_max_s:
                return None
        return self.rate


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
    profile = Profile(a.short)

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
        overlay = kn.overlay_for(m, work / "user", "pods", TARGET, datagen_rate=Profile.CALM)
        print(cp.kubectl("apply", "-k", overlay), end="")
        for name in kn.APISERVICES:
            cp.wait_apiservice_available(name, timeout=180)
        cp.wait_ready_pods(2, kn.NS, "app.kubernetes.io/name=kos-adapter", timeout=180)
        cp.wait_ready_pods(1, kn.NS, "app.kubernetes.io/name=kos-processor", timeout=180)
        print(cp.kubectl("get", "apiservices", "-l", "app.kubernetes.io/name=kos-adapter"), end="")
        token = kn.datagen_control_token(cp)

        say(f"the scenario: generators' rate per pod: {profile.describe()}; processor HPA "
            f"target {TARGET} per pod and topic")
        series, seen, t0, lag, wanted, replicas = [], {}, time.monotonic(), None, 1, 1
        while (rate := profile.step(now := time.monotonic() - t0, wanted, replicas, lag)):
            # every generator pod, new ones (the datagen HPA) included, at the profile's rate
            kn.set_datagen_rate(cp, rate, token)
            out = cp.kubectl("get", "hpa,pods", "-n", kn.NS, "--no-headers", check=False).stdout
            rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
            for name, line in rows.items():
                # like -w: a line when a row changes (its AGE column and kubectl's column
                # padding, which a new wider value in another row changes, aside)
                if seen.get(name, "").split()[:-1] != line.split()[:-1]:
                    print(f"{now:6.1f}s  {line}", flush=True)
            for name in seen.keys() - rows.keys():
                print(f"{now:6.1f}s  {name} gone", flush=True)
            seen = rows
            lag = external_lag(cp)
            replicas = len([p for p in kn.pods(cp, "kos-processor") if p[1] == "Running"])
            wanted = cp.kubectl_json("get", "deployment", "kos-processor", "-n",
                                     kn.NS)["spec"]["replicas"]
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
