"""An HPA scaling on kos-adapter's time to drain (issue 12.4), on the real control plane and a
real broker: kafka_consumergroup_time_to_drain_seconds as an External metric with a Value
target. The consumer group is the test's own: like the other e2e HPA tests, the Deployment's
pods are kwok pods, and a loop in the test plays the group's consumers on real Kafka offsets —
it produces at a fixed rate and commits, per second, `consume_per_replica` messages per ready
replica (so adding replicas really raises the consume rate the adapter measures). Checked:
the HPA scales up from 1 while the group cannot gain, the rates served through the aggregator
match the loop's, and once the input stops and the backlog is gone (time to drain 0) it scales
back to 1. The replicas over time are printed on failure and written to
$KOS_BUILD_DIR/e2e-drain-hpa-timeline.txt."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
GROUP = "DRAIN-GROUP"
TOPIC = "DRAIN-IN"
PARTITIONS = 2
PRODUCE_PER_S = 200          # into the topic, spread over its partitions
CONSUME_PER_REPLICA = 80     # 1 or 2 replicas fall behind, 3 gain 40/s, 5 gain 200/s
TARGET_S = 30                # the HPA's time-to-drain target
CAP_S = 300                  # --time-to-drain-max
APISERVICES = ("v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")


def deployment(name, replicas):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kos"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"nodeName": "kwok-node-0",
                                  "containers": [{"name": "c", "image": "kos:test"}]}},
        },
    }


def hpa(name):
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "kos"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": 1, "maxReplicas": 6,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "kafka_consumergroup_time_to_drain_seconds",
                           "selector": {"matchLabels": {"group": GROUP}}},
                "target": {"type": "Value", "value": str(TARGET_S)}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0},
                         "scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }


class SimulatedGroup(threading.Thread):
    """The consumer group: produces PRODUCE_PER_S into TOPIC and commits what `replicas()`
    consumers would have consumed since the last step, never past the end offset."""

    def __init__(self, bootstrap, replicas):
        super().__init__(daemon=True)
        self.bootstrap, self.replicas = bootstrap, replicas
        self.producing = True
        self.stop_flag = threading.Event()
        self.committed = [0] * PARTITIONS
        self.end = [0] * PARTITIONS
        self.error = None

    def step(self, dt):
        if self.producing:
            n = max(1, round(PRODUCE_PER_S * dt / PARTITIONS))
            for p in range(PARTITIONS):
                self.end[p] = int(kh.testkit("-b", self.bootstrap, "produce", TOPIC, p, n)) + 1
        budget = self.replicas() * CONSUME_PER_REPLICA * dt / PARTITIONS
        for p in range(PARTITIONS):
            self.committed[p] = min(self.end[p], self.committed[p] + round(budget))
        kh.testkit("-b", self.bootstrap, "commit", GROUP,
                   *[f"{TOPIC}:{p}={self.committed[p]}" for p in range(PARTITIONS)])

    def run(self):
        last = time.monotonic()
        try:
            while not self.stop_flag.wait(0.5):
                now = time.monotonic()
                self.step(now - last)
                last = now
        except Exception as e:  # surfaced by the test
            self.error = e

    def lag(self):
        return sum(e - c for e, c in zip(self.end, self.committed))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with kos_k8s.ControlPlane(root / "k8s") as cp, kh.KafkaBroker(root / "kafka") as kafka:
        certs = ka.make_certs(root / "certs")
        for f in ("admin.crt", "admin.key"):
            shutil.copy(cp.pki / f, certs / f"cp{f}")
        ad = ka.Adapter(certs, kafka.bootstrap, default_auth=False,
                        args=["--kubeconfig", cp.kubeconfig, "--refresh-interval", "500ms",
                              "--max-staleness", "4s", "--rate-window", "10s",
                              "--time-to-drain-max", f"{CAP_S}s"])
        ad.start()
        overlay = subprocess.run(
            [str(REPO / "manifests/overlays/local/configure.sh"), str(root / "overlay"),
             str(ad.port), str(certs / "ca-bundle.b64")],
            check=True, capture_output=True, text=True).stdout.strip()
        cp.kubectl("apply", "-k", overlay)
        for name in APISERVICES:
            cp.wait_apiservice_available(name, timeout=90)
        cp.kubectl("delete", "hpa,deployment", "--all", "-n", "kos", "--wait=true")
        kh.testkit("-b", kafka.bootstrap, "create-topic", TOPIC, PARTITIONS)
        yield {"cp": cp, "kafka": kafka, "ad": ad}
        rc = ad.stop()
        assert rc == 0, ad.stderr()


def quantity(q):
    """A Kubernetes Quantity as kos renders it ("300", "7500m", "12k") -> float."""
    mult = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}
    return float(q[:-1]) * mult[q[-1]] if q and q[-1] in mult else float(q)


def served(cp, metric):
    out = cp.kubectl("get", "--raw",
                     f"{EXTERNAL}/namespaces/kos/{metric}?labelSelector=group%3D{GROUP}",
                     check=False)  # a CompletedProcess: a 503 is "not yet", not an error
    try:
        items = json.loads(out.stdout)["items"]
    except (ValueError, KeyError, TypeError):
        return None
    return quantity(items[0]["value"]) if items else None


def test_hpa_scales_on_time_to_drain(env):
    cp, kafka = env["cp"], env["kafka"]
    cp.apply(deployment("drainer", 1))
    cp.wait_ready_pods(1, "kos", "app=drainer")

    def ready():
        st = cp.kubectl_json("get", "deployment", "drainer", "-n", "kos").get("status", {})
        return st.get("readyReplicas", 0)

    replicas_now = [1]
    group = SimulatedGroup(kafka.bootstrap, lambda: replicas_now[0])
    # a backlog to start from, then the loop
    for p in range(PARTITIONS):
        group.end[p] = int(kh.testkit("-b", kafka.bootstrap, "produce", TOPIC, p, 1500)) + 1
    group.step(0.001)
    group.start()
    timeline = []
    t0 = time.monotonic()

    def sample(phase):
        replicas_now[0] = ready()
        spec = cp.kubectl_json("get", "deployment", "drainer", "-n", "kos")["spec"]["replicas"]
        ttd = served(cp, "kafka_consumergroup_time_to_drain_seconds")
        timeline.append((round(time.monotonic() - t0, 1), phase, spec, replicas_now[0],
                         ttd, group.lag()))
        if group.error:
            raise group.error
        return spec

    try:
        # the adapter needs two refreshes for rates; then 1 replica cannot gain -> the cap
        kh.wait_until(lambda: served(cp, "kafka_consumergroup_time_to_drain_seconds") == CAP_S,
                      timeout=30, what="time to drain at the cap while 1 replica falls behind")
        cp.apply(hpa("drainer"))
        peak = 1
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            peak = max(peak, sample("producing"))
            if peak >= 3 and time.monotonic() - t0 > 40:
                break
            time.sleep(1)
        assert peak >= 3, timeline
        status = cp.kubectl_json("get", "hpa", "drainer", "-n", "kos")["status"]
        names = [m["external"]["metric"]["name"] for m in status.get("currentMetrics", [])]
        assert names == ["kafka_consumergroup_time_to_drain_seconds"], status
        # the rates the HPA's adapter serves match what the loop does
        produce = served(cp, "kafka_consumergroup_produce_rate")
        assert produce is not None and 0.6 * PRODUCE_PER_S < produce < 1.4 * PRODUCE_PER_S, \
            (produce, timeline)
        # the input stops: the backlog drains, time to drain reaches 0, back to 1 replica
        group.producing = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            spec = sample("drained" if group.lag() == 0 else "draining")
            if group.lag() == 0 and spec == 1:
                break
            time.sleep(1)
        assert group.lag() == 0 and timeline[-1][2] == 1, timeline
        assert served(cp, "kafka_consumergroup_time_to_drain_seconds") == 0
    finally:
        group.stop_flag.set()
        group.join(timeout=10)
        # the figures: printed on failure, and kept in the build tree either way
        text = "t_s phase spec_replicas ready_replicas time_to_drain_s lag\n" + \
            "".join(" ".join(map(str, row)) + "\n" for row in timeline)
        print("\n" + text)
        out = Path(os.environ.get("KOS_BUILD_DIR", "/tmp")) / "e2e-drain-hpa-timeline.txt"
        out.write_text(text)
