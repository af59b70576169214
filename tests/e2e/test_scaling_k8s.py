"""KEDA-like scaling semantics with a plain HPA, on a real control plane (kube-controller-manager's
HPA controller, kwok pods) and a real broker, kos-adapter behind the aggregator:
- never more consumers than partitions: lagThreshold in the metric selector caps the served
  lag at threshold x partitions, so an HPA with max 20 stops at the topic's 8 partitions (an
  identical HPA without the parameter goes to 20), and with limitToPartitionsWithLag at the 3
  partitions that have lag;
- scale to zero and back (HPAScaleToZero, beta and on by default in the pinned v1.37.2): an HPA
  with minReplicas 0 on the External lag of a group without members takes its Deployment
  1 -> 0 while the lag is 0, holds 0 while the lag stays within activationLagThreshold, goes
  0 -> 1 once it passes it and back to 0 once the lag is consumed."""

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
APISERVICES = ("v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")
SYNC_S = 2  # the harness's --horizontal-pod-autoscaler-sync-period


def deployment(name, replicas):
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kos"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"nodeName": "kwok-node-0",
                         "containers": [{"name": "c", "image": "kos:test"}]},
            },
        },
    }


def hpa(name, selector, min_replicas=1, max_replicas=20):
    """External kafka_consumergroup_lag, AverageValue 100; no stabilization, and scale-up in
    one step (the default policy adds at most 4 pods per 15 s)."""
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "kos"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": "kafka_consumergroup_lag",
                           "selector": {"matchLabels": selector}},
                "target": {"type": "AverageValue", "averageValue": "100"}}}],
            "behavior": {
                "scaleUp": {"stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 20, "periodSeconds": 1}]},
                "scaleDown": {"stabilizationWindowSeconds": 0,
                              "policies": [{"type": "Percent", "value": 100,
                                            "periodSeconds": 1}]}},
        },
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with kos_k8s.ControlPlane(root / "k8s") as cp, kh.KafkaBroker(root / "kafka") as kafka:
        certs = ka.make_certs(root / "certs")
        for f in ("admin.crt", "admin.key"):
            shutil.copy(cp.pki / f, certs / f"cp{f}")
        ad = ka.Adapter(certs, kafka.bootstrap, default_auth=False,
                        args=["--kubeconfig", cp.kubeconfig, "--refresh-interval", "500ms",
                              "--max-staleness", "4s", "--kube-cache-ttl", "1s"])
        ad.start()
        overlay = subprocess.run(
            [str(REPO / "manifests/overlays/local/configure.sh"), str(root / "overlay"),
             str(ad.port), str(certs / "ca-bundle.b64")],
            check=True, capture_output=True, text=True).stdout.strip()
        cp.kubectl("apply", "-k", overlay)
        for name in APISERVICES:
            cp.wait_apiservice_available(name, timeout=90)
        # only this test's Deployments and HPAs
        cp.kubectl("delete", "hpa,deployment", "--all", "-n", "kos", "--wait=true")
        yield {"cp": cp, "kafka": kafka, "ad": ad}
        rc = ad.stop()
        assert rc == 0, ad.stderr()


def tk(kafka, *args):
    return kh.testkit("-b", kafka.bootstrap, *args)


def spec_replicas(cp, name):
    return cp.kubectl_json("get", "deployment", name, "-n", "kos")["spec"]["replicas"]


def wait_replicas(cp, name, want, timeout):
    kh.wait_until(lambda: spec_replicas(cp, name) == want, timeout=timeout, interval=0.25,
                  what=f"{name} at {want} replicas (now {spec_replicas(cp, name)})")


def quantity(q):
    """A Kubernetes quantity of whole messages ("800", "8k", "1500m") as a number."""
    for suffix, mult in (("k", 10**3), ("M", 10**6), ("G", 10**9), ("m", 10**-3)):
        if q.endswith(suffix):
            return int(q[:-1]) * mult
    return int(q)


def served(ad, selector):
    st, body = ad.get(f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag"
                      f"?labelSelector={selector}", cert="cpadmin")
    assert st == 200, body
    return [quantity(i["value"]) for i in body["items"]]


def test_never_more_replicas_than_partitions(env):
    cp, kafka, ad = env["cp"], env["kafka"], env["ad"]
    tk(kafka, "create-topic", "cap8", 8)
    for p in range(8):
        tk(kafka, "produce", "cap8", p, 1000)
    tk(kafka, "commit", "capg", *[f"cap8:{p}=0" for p in range(8)])  # lag 8000 >> 100 x 8
    kh.wait_until(lambda: served(ad, "group%3Dcapg") == [8000], timeout=20, what="lag 8000")
    for name in ("capped", "uncapped"):
        cp.apply(deployment(name, 1))
    cp.apply(hpa("capped", {"group": "capg", "lagThreshold": "100"}))
    cp.apply(hpa("uncapped", {"group": "capg"}))
    wait_replicas(cp, "uncapped", 20, 40)  # what the HPA does on the raw lag: its max
    wait_replicas(cp, "capped", 8, 40)

    def average():  # the value the HPA read, per replica: 800 / 8 once it synced at 8
        status = cp.kubectl_json("get", "hpa", "capped", "-n", "kos")["status"]
        return status["currentMetrics"][0]["external"]["current"]["averageValue"]
    kh.wait_until(lambda: average() == "100", timeout=10, what="HPA reading 800 over 8")
    time.sleep(3 * SYNC_S)  # and it stays there
    assert spec_replicas(cp, "capped") == 8
    # lag on 3 partitions only: limitToPartitionsWithLag -> 3 (the plain cap would keep 8)
    tk(kafka, "commit", "capg", *[f"cap8:{p}=1000" for p in range(3, 8)])
    kh.wait_until(lambda: served(ad, "group%3Dcapg") == [3000], timeout=20, what="lag 3000")
    cp.apply(hpa("capped", {"group": "capg", "lagThreshold": "100",
                            "limitToPartitionsWithLag": "true"}))
    wait_replicas(cp, "capped", 3, 40)
    assert spec_replicas(cp, "uncapped") == 20
    time.sleep(3 * SYNC_S)
    assert spec_replicas(cp, "capped") == 3
    cp.kubectl("delete", "hpa,deployment", "capped", "uncapped", "-n", "kos", "--wait=true")


def test_scale_to_zero_and_back(env):
    cp, kafka, ad = env["cp"], env["kafka"], env["ad"]
    tk(kafka, "create-topic", "zero", 2)
    for p in range(2):
        tk(kafka, "produce", "zero", p, 10)
    tk(kafka, "commit", "zerog", "zero:0=10", "zero:1=10")  # a group without members, lag 0
    kh.wait_until(lambda: served(ad, "group%3Dzerog") == [0], timeout=20, what="lag 0 served")
    cp.apply(deployment("zero", 1))
    t = time.time()
    cp.apply(hpa("zero", {"group": "zerog", "activationLagThreshold": "5"}, min_replicas=0,
                 max_replicas=4))
    wait_replicas(cp, "zero", 0, 30)
    print(f"\n1 -> 0 with lag 0 from the HPA's creation: {time.time() - t:.1f} s")
    # lag 3 <= activationLagThreshold 5: the group has lag (no member reads it) but the
    # served value is 0, so the workload stays at 0
    tk(kafka, "produce", "zero", 0, 3)
    kh.wait_until(lambda: served(ad, "group%3Dzerog") == [3], timeout=20, what="lag 3")
    assert served(ad, "group%3Dzerog,activationLagThreshold%3D5") == [0]
    time.sleep(3 * SYNC_S)
    assert spec_replicas(cp, "zero") == 0
    # lag 13 > 5: 0 -> 1
    tk(kafka, "produce", "zero", 1, 10)
    t = time.time()
    wait_replicas(cp, "zero", 1, 30)
    up = time.time() - t
    cp.wait_ready_pods(1, "kos", "app=zero")
    # the lag is consumed (committed to the end): 1 -> 0
    tk(kafka, "commit", "zerog", "zero:0=13", "zero:1=20")
    t = time.time()
    wait_replicas(cp, "zero", 0, 30)
    down = time.time() - t
    print(f"0 -> 1 in {up:.1f} s after the lag passed the activation threshold; "
          f"1 -> 0 in {down:.1f} s after it was consumed (HPA sync {SYNC_S} s, adapter refresh "
          f"0.5 s, no stabilization window)")
    assert up < 3 * SYNC_S + 4 and down < 3 * SYNC_S + 4, (up, down)
    conds = {c["type"]: c for c in
             cp.kubectl_json("get", "hpa", "zero", "-n", "kos")["status"]["conditions"]}
    assert conds["ScalingActive"]["status"] == "True", conds
    cp.kubectl("delete", "hpa,deployment", "zero", "-n", "kos", "--wait=true")
