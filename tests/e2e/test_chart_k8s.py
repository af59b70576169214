"""charts/kos and the APIService toggles on the real control plane (ctest e2e.chart_k8s): etcd,
kube-apiserver (aggregation layer), kube-controller-manager (HPA), kwok, a real Kafka broker,
helm v4.3.2.

There is no container runtime here: the chart is installed with replicas=0 and kos-adapter runs
as a local process with the chart Deployment's own arguments, on copies of the files the pod
would mount (the chart's certificate Secret, mapping ConfigMap and Kafka Secret) and with the
token of the chart's ServiceAccount (so the chart's RBAC is what it runs with). The aggregator of
the test control plane runs with --enable-aggregator-routing=false and no kube-proxy, so the
chart's Service is patched into `ExternalName 127.0.0.1` (the one object changed after helm): the
aggregator then dials 127.0.0.1 at the APIService's port (service.port = the adapter's port)
and checks the certificate for kos-adapter.kos.svc against the chart's caBundle.

"The other owner" is a small aggregated API server in this file (TLS on 127.0.0.1, serving one
metric), registered like KEDA (v1beta1.external.metrics.k8s.io -> keda/keda-operator-metrics-
apiserver) or like prometheus-adapter (v1beta1.custom.metrics.k8s.io). It records every request.

1. beside KEDA: helm install with the defaults is refused and leaves KEDA's APIService alone;
   with apiService.external.v1beta1=false it installs, both custom APIServices turn Available,
   the lag reaches the HPA through them and the chart's processor HPA scales 1 -> 4 -> 1, while
   every external request goes to the other owner and none to kos;
2. KEDA gone: helm upgrade with external on -> all three Available, the chart's certificate kept
   (tls.helm.lookup), external values from kos;
3. beside prometheus-adapter, with kustomize: overlays/local alone takes the other owner's
   APIService over (kubectl apply does not ask); with components/without-custom-metrics kos
   serves the external group only, the other owner keeps custom.metrics.k8s.io
   (preferredVersion v1beta1, its requests), and a v1beta2 APIService of kos would take them.
"""

import base64
import http.server
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_k8s  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kos"
GEN_CERTS = REPO / "certs" / "gen-certs.sh"
GROUP = "KINGOFSCALING-APP"
NS = "kos"
CUSTOM1 = "/apis/custom.metrics.k8s.io/v1beta1"
CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
KOS_CUSTOM = ("v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io")
KOS_EXTERNAL = "v1beta1.external.metrics.k8s.io"
OTHER_VALUE = "7"


# ---- the other owner -----------------------------------------------------------------------


class OtherAdapter:
    """An aggregated API server standing in for KEDA's or prometheus-adapter's: discovery and one
    metric (value 7) per group-version it is told to serve; every request is recorded."""

    def __init__(self, certs, group_versions):
        self.certs = Path(certs)
        self.group_versions = set(group_versions)
        self.requests = []
        self.lock = threading.Lock()

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                with owner.lock:
                    owner.requests.append(path)
                code, body = owner.answer(path)
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.certs / "serving.crt", self.certs / "serving.key")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True,
                                             do_handshake_on_connect=False)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def seen(self, prefix):
        with self.lock:
            return [p for p in self.requests if p.startswith(prefix)]

    def answer(self, path):
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[0] == "apis" and f"{parts[2]}.{parts[1]}" in self.group_versions:
            group, version, rest = parts[1], parts[2], parts[3:]
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if not rest:
                return 200, {"kind": "APIResourceList", "apiVersion": "v1",
                             "groupVersion": f"{group}/{version}",
                             "resources": [{"name": "other_metric", "singularName": "",
                                            "namespaced": True, "kind": "MetricValueList",
                                            "verbs": ["get"]}]}
            if group == "external.metrics.k8s.io" and len(rest) == 3 and rest[0] == "namespaces":
                return 200, {"kind": "ExternalMetricValueList",
                             "apiVersion": "external.metrics.k8s.io/v1beta1", "metadata": {},
                             "items": [{"metricName": rest[2], "metricLabels": {},
                                        "timestamp": now, "value": OTHER_VALUE}]}
            if group == "custom.metrics.k8s.io" and len(rest) == 5 and rest[0] == "namespaces":
                return 200, {"kind": "MetricValueList",
                             "apiVersion": f"custom.metrics.k8s.io/{version}", "metadata": {},
                             "items": [{"describedObject": {"kind": "Deployment",
                                                            "namespace": rest[1], "name": rest[3],
                                                            "apiVersion": "apps/v1"},
                                        "metricName": rest[4], "timestamp": now,
                                        "value": OTHER_VALUE}]}
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                     "reason": "NotFound", "message": f"{path} not served here"}


def register_other(cp, certs, port, apiservice, namespace, service):
    group = apiservice.split(".", 1)[1]
    version = apiservice.split(".", 1)[0]
    ca = base64.b64encode((Path(certs) / "ca.crt").read_bytes()).decode()
    cp.apply([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": service, "namespace": namespace},
         "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
         "metadata": {"name": apiservice, "labels": {"app.kubernetes.io/name": service}},
         "spec": {"group": group, "version": version, "groupPriorityMinimum": 100,
                  "versionPriority": 100, "caBundle": ca,
                  "service": {"name": service, "namespace": namespace, "port": port}}},
    ])
    cp.wait_apiservice_available(apiservice, timeout=90)
    return identity(cp, apiservice)


def identity(cp, apiservice):
    """What must not change on another owner's APIService: spec, labels, annotations, uid."""
    o = cp.kubectl_json("get", "apiservice", apiservice)
    md = o["metadata"]
    return {"uid": md["uid"], "labels": md.get("labels"), "annotations": md.get("annotations"),
            "spec": o["spec"]}


# ---- kos-adapter with the chart's Deployment, as a local process -------------------------------


class ChartAdapter:
    """kos-adapter run with the args of the chart's Deployment: every volume the pod would mount
    is copied from the chart's Secret/ConfigMap into WORKDIR (the args' /etc/kos/... paths
    rewritten to it), --secure-port is the APIServices' port, and the kubeconfig carries a token
    of the chart's ServiceAccount. -d logs one line per request."""

    def __init__(self, cp, workdir, port):
        self.cp, self.workdir, self.port = cp, Path(workdir), port
        self.name = "kos-adapter"  # release "kos"
        self.proc = None
        self.lines = []

    def materialise(self):
        dep = self.cp.kubectl_json("get", "deployment", self.name, "-n", NS)
        spec = dep["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        vols = {v["name"]: v for v in spec["volumes"]}
        root = self.workdir / "root"
        shutil.rmtree(root, ignore_errors=True)
        for m in c["volumeMounts"]:
            d = root / m["mountPath"].lstrip("/")
            d.mkdir(parents=True)
            v = vols[m["name"]]
            if "secret" in v:
                data = {k: base64.b64decode(x) for k, x in self.cp.kubectl_json(
                    "get", "secret", v["secret"]["secretName"], "-n", NS)["data"].items()}
            elif "configMap" in v:
                data = {k: x.encode() for k, x in self.cp.kubectl_json(
                    "get", "configmap", v["configMap"]["name"], "-n", NS)["data"].items()}
            else:
                continue  # emptyDir
            items = (v.get("secret") or v.get("configMap")).get("items")
            for key, blob in data.items():
                paths = [i["path"] for i in items if i["key"] == key] if items else [key]
                for p in paths:
                    (d / p).write_bytes(blob)
        args = [a.replace("/etc/kos/", f"{root}/etc/kos/") for a in c["args"]]
        args = [f"--secure-port={self.port}" if a.startswith("--secure-port=") else a for a in args]
        assert c["command"] == ["/usr/local/bin/kos-adapter"]
        self.service_account = spec["serviceAccountName"]
        kc = self.write_kubeconfig()
        self.ca = root / "etc/kos/tls/ca.crt"
        return [ka.adapter_path(), *args, "--bind-address", "127.0.0.1", "--kubeconfig", kc,
                "--refresh-interval", "500ms", "--kube-cache-ttl", "1s", "-d"]

    def write_kubeconfig(self):
        token = self.cp.kubectl("create", "token", self.service_account, "-n", NS,
                                "--duration", "2h").strip()
        kc = self.workdir / "sa.kubeconfig"
        kc.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "sa",
            "clusters": [{"name": "cp", "cluster": {"server": self.cp.apiserver_url,
                                                    "certificate-authority": self.cp.client_ca}}],
            "users": [{"name": "sa", "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "cp", "user": "sa"}}]}))
        return kc

    def start(self, timeout=30):
        self.cmd = [str(x) for x in self.materialise()]
        return self._spawn(timeout)

    def restart_with_new_token(self, timeout=30):
        """After the ServiceAccount was deleted and made again (helm uninstall, kubectl apply -k):
        the old token is bound to the old ServiceAccount; same files, same port."""
        assert self.stop() == 0, self.log()
        self.write_kubeconfig()
        return self._spawn(timeout)

    def _spawn(self, timeout):
        cmd = self.cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        kos_k8s.wait_until(self.ready, timeout, 0.2, f"kos-adapter ready on {self.port}")
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def ready(self):
        """/readyz over TLS, verified as the aggregator does: the chart's CA, the Service's name."""
        if self.proc.poll() is not None:
            raise AssertionError(f"kos-adapter exited {self.proc.returncode}: {self.log()}")
        ctx = ssl.create_default_context(cafile=str(self.ca))
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw_sock, \
                ctx.wrap_socket(raw_sock, server_hostname=f"{self.name}.{NS}.svc") as t:
            t.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return t.recv(64).startswith(b"HTTP/1.1 200")

    def requests_for(self, prefix):
        return [line for line in self.lines if f"GET {prefix}" in line]

    def log(self):
        return "\n".join(self.lines[-40:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc


# ---- helm and the cluster ------------------------------------------------------------------


class Helm:
    def __init__(self, cp, home):
        self.cp = cp
        self.env = dict(os.environ)
        for k in ("CACHE", "CONFIG", "DATA"):
            self.env[f"HELM_{k}_HOME"] = str(Path(home) / k.lower())

    def __call__(self, *args, check=True):
        p = subprocess.run([str(kos_k8s.binary("helm")), f"--kubeconfig={self.cp.kubeconfig}",
                            *map(str, args)], capture_output=True, text=True, timeout=300,
                           env=self.env, stdin=subprocess.DEVNULL)
        if check and p.returncode:
            raise AssertionError(f"helm {' '.join(map(str, args))} failed ({p.returncode}):\n"
                                 f"{p.stdout}\n{p.stderr}")
        return p


def route_service_to_local(cp, name="kos-adapter"):
    """The control plane's aggregator reaches a Service only as ExternalName (no kube-proxy,
    aggregator routing off): point the chart's Service at 127.0.0.1."""
    cp.kubectl("patch", "service", name, "-n", NS, "--type", "merge", "-p", json.dumps({
        "spec": {"type": "ExternalName", "externalName": "127.0.0.1", "clusterIP": None,
                 "clusterIPs": None, "selector": None, "ipFamilies": None,
                 "ipFamilyPolicy": None, "internalTrafficPolicy": None,
                 "sessionAffinity": None}}))


def raw(cp, path):
    return json.loads(cp.kubectl("get", "--raw", path))


def set_lag(kafka, per_partition):
    specs = []
    for t in ("GAME-FRAME-RQ", "GAME-FRAME-RS"):
        for p in range(4):
            end = int(kh.testkit("-b", kafka.bootstrap, "produce", t, p, per_partition + 1)) + 1
            specs.append(f"{t}:{p}={end - per_partition}")
    kh.testkit("-b", kafka.bootstrap, "commit", GROUP, *specs)


def spec_replicas(cp, name):
    return cp.kubectl_json("get", "deployment", name, "-n", NS)["spec"]["replicas"]


def wait_replicas(cp, name, want, timeout):
    kos_k8s.wait_until(lambda: spec_replicas(cp, name) == want, timeout, 0.5,
                       f"{name} at {want} replicas")


def chart_values(port, kafka, **over):
    fast = {"stabilizationWindowSeconds": 0, "selectPolicy": "Max"}
    v = {
        # no container runtime: the adapter is a local process (ChartAdapter)
        "replicas": 0,
        "service": {"port": port},
        "kafka": {"adapter": {"properties": f"bootstrap.servers={kafka.bootstrap}\n"},
                  "clients": {"properties": f"bootstrap.servers={kafka.bootstrap}\n"}},
        "processor": {"enabled": True, "autoscaling": {
            "minReplicas": 1, "maxReplicas": 4,
            # an Object metric: custom.metrics.k8s.io, the group kos keeps beside KEDA
            "metrics": [{"type": "Object", "object": {
                "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "kos-processor"},
                "metric": {"name": "kafka_consumergroup_lag"},
                "target": {"type": "AverageValue", "averageValue": "100"}}}],
            "behavior": {"scaleUp": {**fast, "policies": [{"type": "Pods", "value": 4, "periodSeconds": 1}]},
                         "scaleDown": {**fast, "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}]}}}},
    }
    v.update(over)
    return v


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("chart")
    with kos_k8s.ControlPlane(root / "k8s") as cp, kh.KafkaBroker(root / "kafka") as kafka:
        for t in ("GAME-FRAME-RQ", "GAME-FRAME-RS"):
            kh.testkit("-b", kafka.bootstrap, "create-topic", t, 4)
        other_certs = root / "other-certs"
        subprocess.run([str(GEN_CERTS), str(other_certs), "--service",
                        "keda-operator-metrics-apiserver", "--namespace", "keda"],
                       check=True, capture_output=True)
        other = OtherAdapter(other_certs, {"v1beta1.external.metrics.k8s.io"}).start()
        state = {"cp": cp, "kafka": kafka, "root": root, "other": other,
                 "other_certs": other_certs, "helm": Helm(cp, root / "helm"),
                 "port": kh.free_port(), "adapter": None}
        try:
            yield state
        finally:
            other.stop()
            if state["adapter"]:
                rc = state["adapter"].stop()
                assert rc == 0, state["adapter"].log()


def test_1_install_beside_keda(env):
    cp, helm, kafka, other = env["cp"], env["helm"], env["kafka"], env["other"]
    keda = register_other(cp, env["other_certs"], other.port, KOS_EXTERNAL, "keda",
                          "keda-operator-metrics-apiserver")
    values = env["root"] / "values.yaml"
    values.write_text(yaml.safe_dump(chart_values(env["port"], kafka)))

    # The defaults register all three group-versions: helm refuses to take KEDA's APIService
    # (not part of any release) and creates nothing.
    p = helm("install", "kos", CHART, "-n", NS, "--create-namespace", "-f", values, check=False)
    assert p.returncode != 0
    assert f'APIService "{KOS_EXTERNAL}"' in p.stderr and "cannot be imported" in p.stderr, p.stderr
    assert identity(cp, KOS_EXTERNAL) == keda
    assert cp.kubectl("get", "apiservices", "-l", "app.kubernetes.io/instance=kos", "-o",
                      "name").strip() == ""
    helm("uninstall", "kos", "-n", NS, check=False)  # a failed release record, if any

    # external.metrics left to KEDA
    helm("install", "kos", CHART, "-n", NS, "--create-namespace", "-f", values,
         "--set", "apiService.external.v1beta1=false")
    route_service_to_local(cp)
    ad = env["adapter"] = ChartAdapter(cp, env["root"] / "adapter", env["port"]).start()
    for name in KOS_CUSTOM:
        cp.wait_apiservice_available(name, timeout=90)
    assert identity(cp, KOS_EXTERNAL) == keda
    assert cp.kubectl_json("get", "apiservice", KOS_EXTERNAL)["status"]["conditions"][0]["status"] == "True"

    # kos's custom metrics through the aggregator: the group's lag
    set_lag(kafka, 40)  # 8 partitions x 40
    path = f"{CUSTOM2}/namespaces/{NS}/deployments.apps/kos-processor/kafka_consumergroup_lag"
    kos_k8s.wait_until(lambda: [i["value"] for i in raw(cp, path)["items"]] == ["320"], 30, 0.5,
                       "lag 320 through v1beta2")
    v1 = raw(cp, path.replace(CUSTOM2, CUSTOM1))
    assert [i["value"] for i in v1["items"]] == ["320"]
    # ... and the chart's processor HPA (Object metric) scales on it: ceil(320 / 100) = 4
    wait_replicas(cp, "kos-processor", 4, 40)
    hpa = cp.kubectl_json("get", "hpa", "kos-processor", "-n", NS)
    assert hpa["status"]["currentMetrics"][0]["object"]["metric"]["name"] == "kafka_consumergroup_lag"
    set_lag(kafka, 0)
    wait_replicas(cp, "kos-processor", 1, 40)

    # external metrics are KEDA's: the aggregator sends them there, never to kos
    before = len(other.seen(EXTERNAL))
    ext = raw(cp, f"{EXTERNAL}/namespaces/{NS}/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}")
    assert [i["value"] for i in ext["items"]] == [OTHER_VALUE]
    assert len(other.seen(f"{EXTERNAL}/namespaces/")) >= 1 and len(other.seen(EXTERNAL)) > before
    assert ad.requests_for(EXTERNAL) == [], ad.requests_for(EXTERNAL)
    assert ad.requests_for(CUSTOM2), "kos got no custom-metrics request at all?"
    assert identity(cp, KOS_EXTERNAL) == keda


def test_2_upgrade_after_keda_left(env):
    cp, helm, other = env["cp"], env["helm"], env["other"]
    cp.kubectl("delete", "apiservice", KOS_EXTERNAL)
    secret = cp.kubectl_json("get", "secret", "kos-adapter-serving-cert", "-n", NS)["data"]
    # --force-conflicts: the Service was patched to ExternalName outside helm (see above)
    helm("upgrade", "kos", CHART, "-n", NS, "--reuse-values", "--force-conflicts",
         "--set", "apiService.external.v1beta1=true")
    route_service_to_local(cp)
    # tls.helm.lookup: the certificate the running adapter serves is still the chart's
    assert cp.kubectl_json("get", "secret", "kos-adapter-serving-cert", "-n", NS)["data"] == secret
    for name in (*KOS_CUSTOM, KOS_EXTERNAL):
        cp.wait_apiservice_available(name, timeout=90)
    a = cp.kubectl_json("get", "apiservice", KOS_EXTERNAL)
    assert a["spec"]["service"]["name"] == "kos-adapter"
    assert a["spec"]["caBundle"] == secret["ca.crt"]
    set_lag(env["kafka"], 5)
    path = f"{EXTERNAL}/namespaces/{NS}/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}"
    kos_k8s.wait_until(lambda: [i["value"] for i in raw(cp, path)["items"]] == ["40"], 30, 0.5,
                       "kos's external lag")
    assert env["adapter"].requests_for(EXTERNAL)


def test_3_beside_prometheus_adapter_with_kustomize(env):
    cp, helm, kafka = env["cp"], env["helm"], env["kafka"]
    helm("uninstall", "kos", "-n", NS)
    left = cp.kubectl("get", "apiservices,clusterroles,clusterrolebindings", "-o", "name",
                      "-l", "app.kubernetes.io/instance=kos").strip()
    assert left == "", left
    assert not [a for a in cp.kubectl_json("get", "apiservices")["items"]
                if a["metadata"]["name"] in (*KOS_CUSTOM, KOS_EXTERNAL)]

    # prometheus-adapter owns custom.metrics.k8s.io (v1beta1 only, as its chart registers)
    other_certs = env["root"] / "promadapter-certs"
    subprocess.run([str(GEN_CERTS), str(other_certs), "--service", "prometheus-adapter",
                    "--namespace", "monitoring"], check=True, capture_output=True)
    pa = OtherAdapter(other_certs, {"v1beta1.custom.metrics.k8s.io"}).start()
    try:
        owner = register_other(cp, other_certs, pa.port, "v1beta1.custom.metrics.k8s.io",
                               "monitoring", "prometheus-adapter")
        # kos with kustomize: overlays/local + the component, caBundle = the CA of the running
        # adapter's certificate (the chart made it; SAN kos-adapter.kos.svc either way)
        configure = REPO / "manifests" / "overlays" / "local" / "configure.sh"
        local = Path(subprocess.run([str(configure), str(env["root"] / "kustomize"),
                                     str(env["port"]), str(env["adapter"].ca)],
                                    check=True, capture_output=True, text=True).stdout.strip())
        # Without the component, `kubectl apply -k` silently takes the other owner's APIService
        # over (what the component is for; helm would have refused):
        cp.kubectl("apply", "-k", local)
        taken = cp.kubectl_json("get", "apiservice", "v1beta1.custom.metrics.k8s.io")["spec"]
        assert taken["service"]["name"] == "kos-adapter" and taken["service"]["namespace"] == NS
        cp.kubectl("delete", "apiservice", *KOS_CUSTOM)
        owner = register_other(cp, other_certs, pa.port, "v1beta1.custom.metrics.k8s.io",
                               "monitoring", "prometheus-adapter")
        # ... with it, kos leaves custom.metrics.k8s.io alone
        ov = local.parent / "beside-prometheus-adapter"
        ov.mkdir()
        (ov / "kustomization.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["../local"],
            "components": ["../../components/without-custom-metrics"]}))
        cp.kubectl("apply", "-k", ov)
        # the chart's ServiceAccount went with helm uninstall; kustomize made it again
        env["adapter"].restart_with_new_token()
        cp.wait_apiservice_available(KOS_EXTERNAL, timeout=90)
        assert identity(cp, "v1beta1.custom.metrics.k8s.io") == owner
        assert not [a for a in cp.kubectl_json("get", "apiservices")["items"]
                    if a["metadata"]["name"] == KOS_CUSTOM[0]]
        # the group's preferred version is the other owner's, and its requests go there
        kos_k8s.wait_until(
            lambda: raw(cp, "/apis/custom.metrics.k8s.io")["preferredVersion"]["version"] == "v1beta1",
            30, 0.5, "v1beta1 (the other owner's) preferred")
        assert [v["version"] for v in raw(cp, "/apis/custom.metrics.k8s.io")["versions"]] == ["v1beta1"]
        n_kos = len(env["adapter"].requests_for("/apis/custom.metrics.k8s.io"))
        doc = raw(cp, f"{CUSTOM1}/namespaces/{NS}/deployments.apps/kos-processor/other_metric")
        assert [i["value"] for i in doc["items"]] == [OTHER_VALUE]
        assert pa.seen(f"{CUSTOM1}/namespaces/")
        assert len(env["adapter"].requests_for("/apis/custom.metrics.k8s.io")) == n_kos
        # kos's external metrics through the aggregator; the processor HPA is on them
        set_lag(kafka, 30)
        path = f"{EXTERNAL}/namespaces/{NS}/kafka_consumergroup_lag?labelSelector=group%3D{GROUP}"
        kos_k8s.wait_until(lambda: [i["value"] for i in raw(cp, path)["items"]] == ["240"], 30,
                           0.5, "kos's external lag")
        hpa = cp.kubectl_json("get", "hpa", "kos-processor", "-n", NS)
        assert [m["type"] for m in hpa["spec"]["metrics"]] == ["External"]

        # Why both custom versions stay off: a v1beta2 of kos beside the other's v1beta1
        # becomes the preferred version, and requests the HPA makes through it reach kos.
        base = yaml.safe_load_all(subprocess.run(
            [str(kos_k8s.kubectl_path()), "kustomize", str(local)], check=True,
            capture_output=True, text=True).stdout)
        v2 = next(o for o in base if o and o["kind"] == "APIService"
                  and o["metadata"]["name"] == KOS_CUSTOM[0])
        cp.apply(v2)
        try:
            cp.wait_apiservice_available(KOS_CUSTOM[0], timeout=90)
            kos_k8s.wait_until(
                lambda: raw(cp, "/apis/custom.metrics.k8s.io")["preferredVersion"]["version"] == "v1beta2",
                30, 0.5, "v1beta2 preferred")
            out = cp.kubectl("get", "--raw", f"{CUSTOM2}/namespaces/{NS}/deployments.apps/"
                             "kos-processor/other_metric", check=False)
            assert out.returncode != 0 and "NotFound" in out.stderr  # kos does not know it
            assert env["adapter"].requests_for(f"{CUSTOM2}/namespaces/{NS}/deployments.apps/kos-processor/other_metric")
        finally:
            cp.kubectl("delete", "apiservice", KOS_CUSTOM[0])
        assert identity(cp, "v1beta1.custom.metrics.k8s.io") == owner
    finally:
        pa.stop()
