"""A slow and a failing Kubernetes must not stall anyone else (issue 9, item 3).

A real kube-apiserver (tests/harness/k8s.sh) authenticates tokens through a webhook this test
runs: a token starting with "slow-" takes 3 s to be refused, so the adapter's TokenReview of
it really takes 3 s. The apiserver's audit log records every TokenReview, SubjectAccessReview
and pod LIST the adapter (its own ServiceAccount) makes, so the calls are counted where they
arrive. (A delaying proxy in front of the apiserver would also do; the webhook is how a slow
TokenReview happens in production, behind OIDC or a cloud IAM, and it keeps the apiserver
itself untouched.) No Kafka: reviews and lists come before the lag snapshot is consulted.

  * six bogus tokens under review: /healthz and a front-proxy request whose review is cached
    answer in < 100 ms (before: 2.5-5.6 s behind the reviews on the two worker threads);
  * eight concurrent requests with the same new token: one TokenReview (before: one per
    worker thread);
  * five requests needing a pod list the adapter may not make: one LIST within the second the
    failure is kept, a second LIST only after it (before: five)."""

import http.client
import json
import shutil
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_k8s  # noqa: E402

NS = "kos"
SA_USER = f"system:serviceaccount:{NS}:kos-adapter"
REVIEW_DELAY_S = 3.0
DISCOVERY = "/apis/custom.metrics.k8s.io/v1beta2"
AUDIT_POLICY = f"""apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: ["{SA_USER}"]
    resources:
      - group: authentication.k8s.io
        resources: ["tokenreviews"]
      - group: authorization.k8s.io
        resources: ["subjectaccessreviews"]
      - group: ""
        resources: ["pods"]
  - level: None
"""
RBAC = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nopods"}},
    {"apiVersion": "v1", "kind": "ServiceAccount",
     "metadata": {"name": "kos-adapter", "namespace": NS}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
     "metadata": {"name": "kos-adapter-auth-delegator"},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                 "name": "system:auth-delegator"},
     "subjects": [{"kind": "ServiceAccount", "name": "kos-adapter", "namespace": NS}]},
    # pods may be listed in kos only: in "nopods" every LIST is refused (403)
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
     "metadata": {"name": "pod-reader", "namespace": NS},
     "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]}]},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
     "metadata": {"name": "kos-adapter-pods", "namespace": NS},
     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
     "subjects": [{"kind": "ServiceAccount", "name": "kos-adapter", "namespace": NS}]},
]


class Webhook(ThreadingHTTPServer):
    """The apiserver's token webhook: "slow-*" tokens are refused after REVIEW_DELAY_S."""
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), WebhookHandler)
        self.calls = {}
        self.lock = threading.Lock()


class WebhookHandler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        token = review["spec"]["token"]
        with self.server.lock:
            self.server.calls[token] = self.server.calls.get(token, 0) + 1
        if token.startswith("slow-"):
            time.sleep(REVIEW_DELAY_S)
        review["status"] = {"authenticated": False, "error": "unknown token"}
        body = json.dumps(review).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("slowkube")
    hook = Webhook()
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    (root / "webhook.kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: hook
  cluster: {{server: "http://127.0.0.1:{hook.server_address[1]}/authenticate"}}
users:
- name: apiserver
  user: {{}}
contexts:
- name: hook
  context: {{cluster: hook, user: apiserver}}
current-context: hook
""")
    (root / "audit-policy.yaml").write_text(AUDIT_POLICY)
    audit = root / "audit.log"
    args = [f"--authentication-token-webhook-config-file={root / 'webhook.kubeconfig'}",
            "--authentication-token-webhook-version=v1",
            f"--audit-policy-file={root / 'audit-policy.yaml'}",
            f"--audit-log-path={audit}", "--audit-log-format=json",
            "--audit-log-mode=blocking"]
    with kos_k8s.ControlPlane(root / "k8s", apiserver_args=args) as cp:
        cp.apply(RBAC)
        token = cp.kubectl("create", "token", "kos-adapter", "-n", NS,
                           "--duration=2h").strip()
        (root / "sa.kubeconfig").write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: k
  cluster: {{server: "{cp.apiserver_url}", certificate-authority: "{cp.client_ca}"}}
users:
- name: sa
  user: {{token: "{token}"}}
contexts:
- name: k
  context: {{cluster: k, user: sa}}
current-context: k
""")
        certs = ka.make_certs(root / "certs")
        ad = ka.Adapter(certs, "127.0.0.1:1", mapping="* pods * g1\n",
                        args=["--kubeconfig", str(root / "sa.kubeconfig"),
                              "--authentication-skip-lookup", "--authorization-cache-ttl", "5m",
                              "--kube-cache-ttl", "5m"])
        ad.start(wait_ready=False)
        kos_k8s.wait_until(lambda: ad.get("/healthz", cert=None, raw=True)[0] == 200, 20,
                           what="adapter /healthz")
        yield {"cp": cp, "ad": ad, "hook": hook, "audit": audit}
        rc = ad.stop()
        assert rc == 0, ad.stderr()
    hook.shutdown()
    shutil.rmtree(root / "k8s" / "etcd", ignore_errors=True)


def audit_count(path, resource, verb, namespace=None):
    n = 0
    for line in path.read_text().splitlines():
        ev = json.loads(line)
        ref = ev.get("objectRef", {})
        if ev.get("stage") == "ResponseComplete" and ev["user"]["username"] == SA_USER \
                and ref.get("resource") == resource and ev["verb"] == verb \
                and (namespace is None or ref.get("namespace") == namespace):
            n += 1
    return n


def timed(fn):
    t0 = time.monotonic()
    out = fn()
    return out, time.monotonic() - t0


def direct(ad, path, token=None, timeout=15):
    """A direct client (no certificate), optionally with a bearer token: (status, seconds)."""
    ctx = ssl.create_default_context(cafile=str(ad.certs / "ca.crt"))

    def go():
        c = http.client.HTTPSConnection("127.0.0.1", ad.port, context=ctx, timeout=timeout)
        try:
            c.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()
    return timed(go)


def proxied(ad, path, user="viewer", group="system:authenticated"):
    """Through the front proxy, as the aggregator sends it: (status, seconds)."""
    return timed(lambda: ad.get(path, cert="front-proxy-client", raw=True,
                                headers=[("X-Remote-User", user),
                                         ("X-Remote-Group", group)])[0])


def in_parallel(fns):
    out = [None] * len(fns)

    def run(i):
        out[i] = fns[i]()
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(fns))]
    for t in ts:
        t.start()
    return ts, out


def test_slow_token_reviews_stall_nobody_else(env):
    ad = env["ad"]
    assert proxied(ad, DISCOVERY)[0] == 200  # the viewer's review is now cached
    ts, out = in_parallel([lambda i=i: direct(ad, DISCOVERY, token=f"slow-{i}")
                           for i in range(6)])
    time.sleep(0.5)  # all six under review now
    health = [direct(ad, "/healthz") for _ in range(10)]
    cached = [proxied(ad, DISCOVERY) for _ in range(10)]
    for t in ts:
        t.join(30)
    print("healthz during the reviews: max %.1f ms" % (max(s for _, s in health) * 1000))
    print("front proxy (cached) during the reviews: max %.1f ms"
          % (max(s for _, s in cached) * 1000))
    print("bogus tokens: %s" % [(st, round(s, 2)) for st, s in out])
    assert all(st == 200 for st, _ in health), health
    assert all(st == 200 for st, _ in cached), cached
    assert max(s for _, s in health) < 0.1, health
    assert max(s for _, s in cached) < 0.1, cached
    # the bogus tokens themselves: refused, after their own review (in parallel, not in turn)
    assert all(st == 401 for st, _ in out), out
    assert all(s < REVIEW_DELAY_S * 1.8 for _, s in out), out


def test_identical_reviews_make_one_call(env):
    ad, audit = env["ad"], env["audit"]
    before = audit_count(audit, "tokenreviews", "create")
    ts, out = in_parallel([lambda: direct(ad, DISCOVERY, token="slow-same") for _ in range(8)])
    for t in ts:
        t.join(30)
    assert all(st == 401 for st, _ in out), out
    time.sleep(0.5)
    calls = audit_count(audit, "tokenreviews", "create") - before
    print(f"8 concurrent requests with one token: {calls} TokenReview(s)")
    assert calls == 1


def test_failed_pod_lists_are_kept_briefly(env):
    ad, audit = env["ad"], env["audit"]
    path = "/apis/custom.metrics.k8s.io/v1beta2/namespaces/nopods/pods/*/kafka_consumer_lag"
    before = audit_count(audit, "pods", "list", "nopods")
    # system:masters: no SubjectAccessReview, straight to the pod list
    statuses = [proxied(ad, path, user="root", group="system:masters")[0] for _ in range(5)]
    time.sleep(0.3)
    first = audit_count(audit, "pods", "list", "nopods") - before
    print(f"5 requests on a failing pod list: {first} LIST(s), statuses {statuses}")
    assert statuses == [500] * 5, statuses
    assert first == 1
    time.sleep(1.2)  # past the second a failure is kept: listed again
    assert proxied(ad, path, user="root", group="system:masters")[0] == 500
    time.sleep(0.3)
    assert audit_count(audit, "pods", "list", "nopods") - before == 2


def test_stop_while_requests_wait(env, tmp_path):
    """SIGTERM with requests parked on a slow review: they are answered 503 at once, without
    waiting for their reviews (libmicrohttpd must never be stopped with a suspended
    connection), and the adapter exits cleanly. (The exit itself also waits for the lag
    thread's Kafka request, up to --kafka-timeout, so its duration is not asserted.)"""
    old = env["ad"]
    ad = ka.Adapter(old.certs, "127.0.0.1:1", mapping="* pods * g1\n", workdir=tmp_path,
                    args=old.args)
    ad.start(wait_ready=False)
    kos_k8s.wait_until(lambda: ad.get("/healthz", cert=None, raw=True)[0] == 200, 20,
                       what="second adapter /healthz")
    ts, out = in_parallel([lambda i=i: direct(ad, DISCOVERY, token=f"slow-stop-{i}")
                           for i in range(3)])
    time.sleep(0.5)
    rc = ad.stop()
    for t in ts:
        t.join(30)
    print(f"stopped with 3 requests waiting: {out}")
    assert rc == 0, ad.stderr()
    assert all(o is not None and o[0] == 503 for o in out), out
    assert all(s < REVIEW_DELAY_S for _, s in out), out
