"""Smoke test of the e2e control plane (tests/harness/kos_k8s.py): kwok runs pods of a Deployment,
and kube-apiserver's aggregation layer reaches an APIService backend on 127.0.0.1 through an
ExternalName Service, presenting the front-proxy client certificate and X-Remote-* headers."""

import json
import ssl
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_k8s  # noqa: E402

NS = "kos-e2e"
SVC = "metrics-backend"
GV_PATH = "/apis/external.metrics.k8s.io/v1beta1"
RESOURCE_LIST = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "external.metrics.k8s.io/v1beta1",
    "resources": [
        {
            "name": "kafka_consumergroup_lag",
            "singularName": "",
            "namespaced": True,
            "kind": "ExternalMetricValueList",
            "verbs": ["get"],
        }
    ],
}

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: consumer, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: consumer}}
  template:
    metadata: {labels: {app: consumer}}
    spec:
      nodeName: kwok-node-0
      containers:
      - {name: c, image: registry.invalid/consumer:1}
"""


class FakeBackend:
    """A tiny HTTPS aggregated API server: serves the external.metrics APIResourceList, requests
    (but does not require) a client certificate verified against the front-proxy CA, and
    records each request's path, headers and client-certificate CN."""

    def __init__(self, certdir, client_ca):
        self.requests = []
        self.lock = threading.Lock()
        certdir.mkdir(parents=True, exist_ok=True)
        self.cert, self.key = certdir / "backend.crt", certdir / "backend.key"
        # Self-signed; SAN <svc>.<ns>.svc is the ServerName the aggregator checks with caBundle.
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
             "-subj", f"/CN={SVC}.{NS}.svc",
             "-addext", f"subjectAltName=DNS:{SVC}.{NS}.svc,IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(client_ca)
        ctx.set_alpn_protocols(["http/1.1"])
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                cert = self.connection.getpeercert() or {}
                cn = None
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            cn = v
                with backend.lock:
                    backend.requests.append(
                        {"path": self.path, "headers": self.headers, "client_cn": cn}
                    )
                if self.path.split("?")[0] == GV_PATH:
                    body, code = json.dumps(RESOURCE_LIST).encode(), 200
                else:
                    body, code = b'{"kind":"Status","apiVersion":"v1","status":"Failure","code":404}', 404
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def recorded(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"].split("?")[0] == path]


def test_controlplane(tmp_path):
    with kos_k8s.ControlPlane(tmp_path / "k8s") as cp:
        print(f"control plane started in {cp.start_seconds:.1f} s at {cp.apiserver_url}")
        ver = json.loads(cp.kubectl("version", "-o", "json"))["serverVersion"]
        assert ver["gitVersion"] == kos_k8s.versions()["KUBE_VERSION"]

        # Aggregation settings published for aggregated servers.
        cm = cp.kubectl_json("get", "configmap", "-n", "kube-system",
                             "extension-apiserver-authentication")["data"]
        front_proxy_pem = Path(cp.front_proxy_ca).read_text().strip()
        assert cm["requestheader-client-ca-file"].strip() == front_proxy_pem
        assert json.loads(cm["requestheader-allowed-names"]) == ["front-proxy-client"]
        assert json.loads(cm["requestheader-username-headers"]) == ["X-Remote-User"]
        assert Path(cp.client_ca).read_text().strip() in cm["client-ca-file"]

        # kwok runs the pods of a Deployment bound to its node.
        cp.apply(DEPLOYMENT)
        pods = cp.wait_ready_pods(2, selector="app=consumer", timeout=90)
        assert len(pods) == 2

        # Aggregated API on loopback: ExternalName Service 127.0.0.1 + APIService port.
        with FakeBackend(tmp_path / "backend", cp.front_proxy_ca) as be:
            ca_bundle = subprocess.run(["base64", "-w0", str(be.cert)], check=True,
                                       capture_output=True, text=True).stdout
            cp.apply(f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {SVC}, namespace: {NS}}}
spec: {{type: ExternalName, externalName: 127.0.0.1}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.external.metrics.k8s.io}}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  service: {{name: {SVC}, namespace: {NS}, port: {be.port}}}
  caBundle: {ca_bundle}
  groupPriorityMinimum: 100
  versionPriority: 100
""")
            cp.wait_apiservice_available("v1beta1.external.metrics.k8s.io", timeout=90)

            got = json.loads(cp.kubectl("get", "--raw", GV_PATH))
            assert got == RESOURCE_LIST

            reqs = be.recorded(GV_PATH)
            assert reqs, f"backend saw no request for {GV_PATH}: {be.requests}"
            assert all(r["client_cn"] == "front-proxy-client" for r in reqs), reqs
            users = {r["headers"].get("X-Remote-User") for r in reqs}
            assert "admin" in users, users  # kubectl's request, as the admin user
            admin_req = next(r for r in reqs if r["headers"].get("X-Remote-User") == "admin")
            assert "system:masters" in admin_req["headers"].get_all("X-Remote-Group", [])
            assert "Authorization" not in admin_req["headers"]

            # The group shows up in the apiserver's merged discovery.
            groups = json.loads(cp.kubectl("get", "--raw", "/apis"))["groups"]
            assert "external.metrics.k8s.io" in {g["name"] for g in groups}
