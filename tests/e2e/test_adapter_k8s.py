"""kos-adapter behind a real kube-apiserver (aggregation layer) with a real HPA controller:
APIServices become Available; kubectl get --raw through the aggregator returns what the
adapter serves directly, for every path type and both custom versions; delegated
authentication (front proxy from the cluster's ConfigMap, TokenReview) and authorization
(SubjectAccessReview: 403 for a user RBAC denies); HPAs on External, Pods and the headroom
metric scale up on real Kafka lag and back down once it is consumed; faults make the HPA hold."""

import json
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
CUSTOM1 = "/apis/custom.metrics.k8s.io/v1beta1"
CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
APISERVICES = ("v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")
GROUP = "KINGOFSCALING-APP"
MAPPING = f"""kos deployments.apps kos-processor {GROUP}
kos pods * {GROUP}
kos namespaces * {GROUP}
"""


def deployment(name, replicas, labels):
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


def hpa(name, target, metrics, max_replicas=4, min_replicas=1):
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "kos"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas, "maxReplicas": max_replicas,
            "metrics": metrics,
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0},
                         "scaleDown": {"stabilizationWindowSeconds": 0}},
        },
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with kos_k8s.ControlPlane(root / "k8s") as cp, kh.KafkaBroker(root / "kafka") as kafka:
        certs = ka.make_certs(root / "certs")
        for f in ("admin.crt", "admin.key"):  # the cluster's admin, trusted via the ConfigMap
            shutil.copy(cp.pki / f, certs / f"cp{f}")
        # No CA flags: like the manifests, the cluster's ConfigMap supplies the CAs (a CA flag
        # would replace it, as in k8s.io/apiserver).
        ad = ka.Adapter(certs, kafka.bootstrap, mapping=MAPPING, default_auth=False,
                        args=["--kubeconfig", cp.kubeconfig, "--refresh-interval", "500ms",
                              "--max-staleness", "4s", "--kube-cache-ttl", "1s"])
        ad.start()
        # The project's own local overlay: namespace, RBAC, the ExternalName Service pointing at
        # this adapter, the three APIServices with our caBundle, processor/datagen + HPAs.
        overlay = subprocess.run(
            [str(REPO / "manifests/overlays/local/configure.sh"), str(root / "overlay"),
             str(ad.port), str(certs / "ca-bundle.b64")],
            check=True, capture_output=True, text=True).stdout.strip()
        cp.kubectl("apply", "-k", overlay)
        for name in APISERVICES:
            cp.wait_apiservice_available(name, timeout=90)
        hpas = {h["metadata"]["name"]: h for h in
                cp.kubectl_json("get", "hpa", "-n", "kos")["items"]}
        assert {m["pods"]["metric"]["name"] for m in hpas["kos-processor"]["spec"]["metrics"]} == \
            {"consumer_lag_game_frame_rq", "consumer_lag_game_frame_rs"}
        cp.wait_ready_pods(1, "kos", "app.kubernetes.io/name=kos-processor", timeout=60)
        # The tests below drive their own Deployments and HPAs with short windows.
        cp.kubectl("delete", "hpa,deployment", "--all", "-n", "kos", "--wait=true")
        for t in ("GAME-FRAME-RQ", "GAME-FRAME-RS"):
            kh.testkit("-b", kafka.bootstrap, "create-topic", t, 4)
        yield {"cp": cp, "kafka": kafka, "ad": ad, "certs": certs, "root": root}
        rc = ad.stop()
        assert rc == 0, ad.stderr()


def raw(cp, path, check=True):
    out = cp.kubectl("get", "--raw", path, check=check)
    return out if check else out


def strip_ts(doc):
    for item in doc.get("items", []):
        item.pop("timestamp", None)
    return doc


def set_lag(kafka, per_partition, topics=("GAME-FRAME-RQ", "GAME-FRAME-RS")):
    """Makes the group's lag exactly per_partition on every partition of the topics."""
    specs = []
    for t in topics:
        for p in range(4):
            end = int(kh.testkit("-b", kafka.bootstrap, "produce", t, p, per_partition + 1)) + 1
            specs.append(f"{t}:{p}={end - per_partition}")
    kh.testkit("-b", kafka.bootstrap, "commit", GROUP, *specs)


def drain(kafka, topics=("GAME-FRAME-RQ", "GAME-FRAME-RS")):
    specs = []
    for t in topics:
        for p in range(4):
            end = int(kh.testkit("-b", kafka.bootstrap, "produce", t, p, 1)) + 1
            specs.append(f"{t}:{p}={end}")
    kh.testkit("-b", kafka.bootstrap, "commit", GROUP, *specs)


def spec_replicas(cp, name):
    return cp.kubectl_json("get", "deployment", name, "-n", "kos")["spec"]["replicas"]


def test_get_raw_through_the_aggregator_equals_direct(env):
    cp, ad, kafka = env["cp"], env["ad"], env["kafka"]
    set_lag(kafka, 10)
    cp.apply(deployment("kos-processor", 1, {"app": "kos-processor"}))
    kh.wait_until(lambda: ad.get(f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag"
                                 f"?labelSelector=group%3D{GROUP}", cert="cpadmin")[0] == 200,
                  timeout=20, what="lag served")
    paths = [CUSTOM1, CUSTOM2, EXTERNAL]
    for v in (CUSTOM1, CUSTOM2):
        paths += [f"{v}/namespaces/kos/deployments.apps/kos-processor/kafka_consumergroup_lag",
                  f"{v}/namespaces/kos/metrics/kafka_consumergroup_lag",
                  f"{v}/namespaces/kos/pods/*/kafka_consumer_lag?labelSelector=app%3Dkos-processor"]
    paths.append(f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}")
    for path in paths:
        via = json.loads(raw(cp, path))
        st, direct = ad.get(path, cert="cpadmin")
        assert st == 200, (path, direct)
        assert strip_ts(via) == strip_ts(direct), path
    # the group's real lag, through the aggregator
    doc = json.loads(raw(cp, paths[-1]))
    assert [i["value"] for i in doc["items"]] == [str(8 * 10)]
    # 404 from the adapter comes through as the adapter's Status
    out = cp.kubectl("get", "--raw", f"{CUSTOM2}/namespaces/kos/deployments.apps/nope/"
                     "kafka_consumergroup_lag", check=False)
    assert out.returncode != 0 and "NotFound" in out.stderr


def test_pods_metric_lists_only_selected_pods(env):
    cp, ad, kafka = env["cp"], env["ad"], env["kafka"]
    cp.apply(deployment("kos-processor", 2, {"app": "kos-processor"}))
    cp.apply(deployment("other", 1, {"app": "other"}))
    pods = cp.wait_ready_pods(2, "kos", "app=kos-processor")
    cp.wait_ready_pods(1, "kos", "app=other")
    path = f"{CUSTOM2}/namespaces/kos/pods/%2A/kafka_consumer_lag?labelSelector=app%3Dkos-processor"
    # one item per selected pod (once the adapter's 1 s pod cache has seen both); no consumer
    # runs there yet, so 0 each; never the other pod
    def served():
        st, body = ad.get(path, cert="cpadmin")
        assert st == 200, body
        return sorted((i["describedObject"]["name"], i["value"]) for i in body["items"])
    kh.wait_until(lambda: served() == sorted((p, "0") for p in pods), timeout=10,
                  what="one zero item per selected pod")
    # a consumer whose client.id is one pod's name: that pod carries the group's lag
    set_lag(kafka, 5)
    with kh.GroupMember(kafka.bootstrap, GROUP, pods[0], ["GAME-FRAME-RQ", "GAME-FRAME-RS"]) as m:
        m.wait_assigned(min_partitions=8)

        def pod_values():
            st, body = ad.get(path, cert="cpadmin")
            return {i["describedObject"]["name"]: i["value"] for i in body["items"]}
        kh.wait_until(lambda: pod_values() == {pods[0]: str(8 * 5), pods[1]: "0"}, timeout=20,
                      what="lag on the member's pod only")
    cp.kubectl("delete", "deployment", "other", "-n", "kos")


def test_delegated_authentication_and_authorization(env):
    cp, ad, certs = env["cp"], env["ad"], env["certs"]
    path = f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}"
    # no credentials
    assert ad.get(path, cert=None)[0] == 401
    # the cluster's front-proxy certificate with the headers the aggregator sets: accepted
    shutil.copy(cp.pki / "front-proxy-client.crt", certs / "cpproxy.crt")
    shutil.copy(cp.pki / "front-proxy-client.key", certs / "cpproxy.key")
    hdrs = [("X-Remote-User", "admin"), ("X-Remote-Group", "system:masters")]
    assert ad.get(path, cert="cpproxy", headers=hdrs)[0] == 200
    assert ad.get(path, cert="cpproxy")[0] == 401  # no X-Remote-User
    # a front-proxy-CA certificate whose CN is not in requestheader-allowed-names
    d = certs
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "badcn.key",
                    "-out", d / "badcn.csr", "-subj", "/CN=not-the-aggregator"],
                   check=True, capture_output=True)
    (d / "cau.ext").write_text("extendedKeyUsage=clientAuth\n")
    subprocess.run(["openssl", "x509", "-req", "-in", d / "badcn.csr", "-CA",
                    cp.pki / "front-proxy-ca.crt", "-CAkey", cp.pki / "front-proxy-ca.key",
                    "-CAcreateserial", "-out", d / "badcn.crt", "-days", "2", "-extfile",
                    d / "cau.ext"], check=True, capture_output=True)
    assert ad.get(path, cert="badcn", headers=hdrs)[0] == 401
    # a user RBAC does not allow: client certificate CN=bob from the cluster CA -> SAR -> 403
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", d / "bob.key",
                    "-out", d / "bob.csr", "-subj", "/CN=bob"], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", d / "bob.csr", "-CA", cp.pki / "ca.crt",
                    "-CAkey", cp.pki / "ca.key", "-CAcreateserial", "-out", d / "bob.crt",
                    "-days", "2", "-extfile", d / "cau.ext"], check=True, capture_output=True)
    st, body = ad.get(path, cert="bob")
    assert st == 403 and body["reason"] == "Forbidden", body
    assert 'User "bob" cannot list resource "kafka_consumergroup_lag"' in body["message"]
    # a service account allowed by RBAC, with a bearer token (TokenReview), straight to the adapter
    cp.apply("""apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: kos}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kos-metrics-reader}
rules:
- apiGroups: [custom.metrics.k8s.io, external.metrics.k8s.io]
  resources: ["*"]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kos-metrics-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kos-metrics-reader}
subjects: [{kind: ServiceAccount, name: reader, namespace: kos}]
""")
    token = cp.kubectl("create", "token", "reader", "-n", "kos").strip()
    st, body = ad.get(path, cert=None, headers=[("Authorization", f"Bearer {token}")])
    assert st == 200, body
    st, body = ad.get(path, cert=None, headers=[("Authorization", "Bearer not-a-token")])
    assert st == 401
    # bob through the aggregator: kube-apiserver's own RBAC refuses first
    kc = d / "bob.kubeconfig"
    kc.write_text(Path(cp.kubeconfig).read_text())
    kubectl = [kos_k8s.kubectl_path(), f"--kubeconfig={kc}"]
    subprocess.run([*kubectl, "config", "set-credentials", "bob",
                    f"--client-certificate={d / 'bob.crt'}", f"--client-key={d / 'bob.key'}"],
                   check=True, capture_output=True)
    subprocess.run([*kubectl, "config", "set-context", "--current", "--user=bob"], check=True,
                   capture_output=True)
    out = subprocess.run([*kubectl, "get", "--raw", path], capture_output=True, text=True)
    assert out.returncode != 0 and "Forbidden" in out.stderr, (out.returncode, out.stderr)


def wait_replicas(cp, name, want, timeout):
    kh.wait_until(lambda: spec_replicas(cp, name) == want, timeout=timeout, interval=0.5,
                  what=f"{name} at {want} replicas (now {spec_replicas(cp, name)})")


def test_hpa_external_metric_scales_up_and_down(env):
    cp, kafka = env["cp"], env["kafka"]
    drain(kafka)
    cp.apply(deployment("kos-processor", 1, {"app": "kos-processor"}))
    wait_replicas(cp, "kos-processor", 1, 30)
    cp.apply(hpa("kos-processor", "kos-processor", [{
        "type": "External",
        "external": {"metric": {"name": "kafka_consumergroup_lag",
                                "selector": {"matchLabels": {"group": GROUP}}},
                     "target": {"type": "AverageValue", "averageValue": "100"}}}]))
    set_lag(kafka, 40)  # 8 partitions x 40 = 320 -> ceil(320/100) = 4
    t0 = time.time()
    wait_replicas(cp, "kos-processor", 4, 30)
    took = time.time() - t0
    status = cp.kubectl_json("get", "hpa", "kos-processor", "-n", "kos")["status"]
    metric = status["currentMetrics"][0]["external"]
    assert metric["metric"]["name"] == "kafka_consumergroup_lag"
    assert metric["current"]["averageValue"] not in ("", "0"), metric
    assert took < 2 * 2 + 6, took  # two HPA sync periods (2 s) + the adapter's refresh + slack
    drain(kafka)
    wait_replicas(cp, "kos-processor", 1, 30)


def test_hpa_pods_metric_like_the_original(env):
    cp, kafka = env["cp"], env["kafka"]
    cp.kubectl("delete", "hpa", "kos-processor", "-n", "kos", "--ignore-not-found")
    cp.apply(deployment("kos-processor", 2, {"app": "kos-processor"}))
    pods = cp.wait_ready_pods(2, "kos", "app=kos-processor")
    drain(kafka)
    members = [kh.GroupMember(kafka.bootstrap, GROUP, p, ["GAME-FRAME-RQ", "GAME-FRAME-RS"])
               for p in pods]
    try:
        kh.wait_until(lambda: sum(len(m.assignment or ()) for m in members) == 8, timeout=30,
                      what="8 partitions held by the two pods' consumers")
        # min 2 keeps the two pods whose consumers hold the partitions
        cp.apply(hpa("kos-processor", "kos-processor", [
            {"type": "Pods", "pods": {"metric": {"name": "consumer_lag_game_frame_rq"},
                                      "target": {"type": "AverageValue", "averageValue": "100"}}},
            {"type": "Pods", "pods": {"metric": {"name": "consumer_lag_game_frame_rs"},
                                      "target": {"type": "AverageValue", "averageValue": "100"}}},
        ], min_replicas=2))
        # The group has live members, so lag comes from new records (a commit from outside
        # an active group is refused): rq gets 240 more over 2 pods -> 3 replicas.
        for p in range(4):
            kh.testkit("-b", kafka.bootstrap, "produce", "GAME-FRAME-RQ", p, 60)
        wait_replicas(cp, "kos-processor", 3, 40)
        status = cp.kubectl_json("get", "hpa", "kos-processor", "-n", "kos")["status"]
        names = {m["pods"]["metric"]["name"] for m in status["currentMetrics"]}
        assert names == {"consumer_lag_game_frame_rq", "consumer_lag_game_frame_rs"}
        # The consumers catch up (here: they leave and their offsets move to the end).
        for m in members:
            m.stop()
        members = []
        drain(kafka)
        wait_replicas(cp, "kos-processor", 2, 40)
    finally:
        for m in members:
            m.stop()
        cp.kubectl("delete", "hpa", "kos-processor", "-n", "kos", "--ignore-not-found")


def test_hpa_datagen_on_headroom(env):
    cp, kafka = env["cp"], env["kafka"]
    drain(kafka)
    cp.apply(deployment("kos-datagen", 1, {"app": "kos-datagen"}))
    cp.apply(hpa("kos-datagen", "kos-datagen", [{
        "type": "External",
        "external": {"metric": {"name": "kafka_consumergroup_lag_headroom",
                                "selector": {"matchLabels": {"group": GROUP, "budget": "400"}}},
                     "target": {"type": "AverageValue", "averageValue": "100"}}}]))
    # processor keeps up (lag 0): headroom 400 -> 4 generators
    wait_replicas(cp, "kos-datagen", 4, 30)
    # lag past the budget: headroom 0 -> back to the minimum
    set_lag(kafka, 60)  # 480 > 400
    wait_replicas(cp, "kos-datagen", 1, 30)
    drain(kafka)
    cp.kubectl("delete", "hpa", "kos-datagen", "-n", "kos")


def test_faults_make_the_hpa_hold(env):
    cp, kafka, ad = env["cp"], env["kafka"], env["ad"]
    cp.apply(deployment("kos-processor", 1, {"app": "kos-processor"}))
    cp.apply(hpa("kos-processor", "kos-processor", [{
        "type": "External",
        "external": {"metric": {"name": "kafka_consumergroup_lag",
                                "selector": {"matchLabels": {"group": GROUP}}},
                     "target": {"type": "AverageValue", "averageValue": "100"}}}]))
    set_lag(kafka, 40)
    wait_replicas(cp, "kos-processor", 4, 30)
    # adapter killed: the APIService goes unavailable and the HPA holds at 4 (no scale-down)
    ad.proc.kill()
    ad.proc.wait()
    kh.wait_until(lambda: cp.kubectl_json("get", "apiservice", APISERVICES[2])["status"]
                  ["conditions"][0]["status"] != "True", timeout=60,
                  what="APIService unavailable")
    time.sleep(6)  # three HPA sync periods
    assert spec_replicas(cp, "kos-processor") == 4
    # restarted on the same port: Available again, values again
    port = ad.port
    ad.args += ["--secure-port", str(port)]
    ad.start()
    assert ad.port == port
    for name in APISERVICES:
        cp.wait_apiservice_available(name, timeout=90)
    # Kafka stopped: 503 from the adapter (stale), the HPA holds
    kafka.stop()
    try:
        kh.wait_until(lambda: ad.get(f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag"
                                     f"?labelSelector=group%3D{GROUP}", cert="cpadmin")[0] == 503,
                      timeout=20, what="503 once the snapshot is stale")
        time.sleep(6)
        assert spec_replicas(cp, "kos-processor") == 4
        cond = {c["type"]: c for c in
                cp.kubectl_json("get", "hpa", "kos-processor", "-n", "kos")["status"]["conditions"]}
        assert cond["ScalingActive"]["status"] == "False", cond
    finally:
        kafka.start()
    kh.wait_until(lambda: ad.get(f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag"
                                 f"?labelSelector=group%3D{GROUP}", cert="cpadmin")[0] == 200,
                  timeout=60, what="values after Kafka is back")
    drain(kafka)
    wait_replicas(cp, "kos-processor", 1, 30)
