"""kos-adapter's delegated authentication against a real kube-apiserver, matched rule by rule
against k8s.io/apiserver v0.37.2 (issue 9 items 5, 6, 8, 12). No Kafka: the broker address is
dead, which authentication and authorization do not need. The adapter runs as ServiceAccount
kos/kos-adapter (a token kubeconfig) with system:auth-delegator only, like a real deployment.

  * 5 (pkg/server/options/authentication.go DelegatingAuthenticationOptions.ApplyTo): the
    ConfigMap kube-system/extension-apiserver-authentication is read only for what the flags do
    not set: --client-ca-file replaces its client-ca-file; --requestheader-client-ca-file
    replaces ALL its requestheader-* keys (the CA, allowed names and header names come from the
    flags together); --requestheader-allowed-names without that CA flag is ignored; with both
    CA flags the ConfigMap is never read (no RBAC needed to read it);
  * 8 (server/secure_serving.go: tls.RequestClientCert whenever a client CA provider exists;
    dynamiccertificates/tlsconfig.go: the CA list follows reloads): started while the
    ConfigMap cannot be read (--authentication-tolerate-lookup-failure), the adapter accepts
    the cluster's client certificates once it can read it;
  * 6 (authentication/request/headerrequest/requestheader.go newExtra, plugin/pkg/authorizer/
    webhook/webhook.go Authorize): X-Remote-Extra-* reach the SubjectAccessReview decoded
    (key lowercased, then percent-decoded; every value kept in order) and are part of its cache
    key; checked in kube-apiserver's audit log, i.e. what the SAR really carried;
  * 12: a failed pod list is a 500 with kube-apiserver's generic wording, never the apiserver's
    message naming the adapter's ServiceAccount (that goes to the adapter's log)."""

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

DEAD_BROKER = "127.0.0.1:9"
CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"
EXTERNAL = "/apis/external.metrics.k8s.io/v1beta1"
LAG = f"{EXTERNAL}/namespaces/kos/kafka_consumergroup_lag"
PODS = f"{CUSTOM2}/namespaces/kos/pods/%2A/kafka_consumer_lag"
RELOAD_S = 45  # the adapter re-reads the ConfigMap every 30 s

AUDIT_POLICY = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request
  resources:
  - group: authorization.k8s.io
    resources: [subjectaccessreviews]
- level: None
"""

SETUP = """apiVersion: v1
kind: Namespace
metadata: {name: kos}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: kos-adapter, namespace: kos}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: kos-adapter-auth-delegator}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{kind: ServiceAccount, name: kos-adapter, namespace: kos}]
"""

READER = """apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kos-adapter-auth-reader, namespace: kube-system}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{kind: ServiceAccount, name: kos-adapter, namespace: kos}]
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "audit-policy.yaml").write_text(AUDIT_POLICY)
    audit_log = root / "audit.log"
    args = [f"--audit-policy-file={root / 'audit-policy.yaml'}", f"--audit-log-path={audit_log}"]
    with kos_k8s.ControlPlane(root / "k8s", apiserver_args=args) as cp:
        certs = ka.make_certs(root / "certs")
        for src, dst in (("admin", "cpadmin"), ("front-proxy-client", "cpproxy")):
            for ext in ("crt", "key"):
                shutil.copy(cp.pki / f"{src}.{ext}", certs / f"{dst}.{ext}")
        cp.apply(SETUP)
        token = cp.kubectl("create", "token", "kos-adapter", "-n", "kos",
                           "--duration=2h").strip()
        kc = root / "adapter.kubeconfig"
        kc.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "{cp.apiserver_url}", certificate-authority: "{cp.client_ca}"}}
users:
- name: kos-adapter
  user: {{token: "{token}"}}
contexts:
- name: c
  context: {{cluster: c, user: kos-adapter}}
current-context: c
""")
        yield {"cp": cp, "certs": certs, "kc": kc, "root": root, "audit": audit_log}


def start(env, *flags):
    """An adapter on the cluster with exactly FLAGS for authentication (no CA flags unless
    given)."""
    ad = ka.Adapter(env["certs"], DEAD_BROKER, mapping="kos pods * g1\n", default_auth=False,
                    args=["--kubeconfig", str(env["kc"]), "--kafka-timeout", "200ms", *flags])
    return ad.start(wait_ready=False)


def stop(ad):
    rc = ad.stop()
    assert rc == 0, ad.stderr()


def sar_specs(env, user):
    specs = []
    for line in env["audit"].read_text().splitlines():
        ev = json.loads(line)
        spec = (ev.get("requestObject") or {}).get("spec") or {}
        if ev.get("stage") == "ResponseComplete" and spec.get("user") == user:
            specs.append(spec)
    return specs


PROXY = [("X-Remote-User", "admin"), ("X-Remote-Group", "system:masters")]


def test_both_ca_flags_never_read_the_configmap(env):
    certs, proxy = env["certs"], PROXY
    # Both CA flags: the ConfigMap is never read, so the adapter starts although its
    # ServiceAccount may not read it yet, and only the flags' CAs count.
    ad = start(env, "--client-ca-file", str(certs / "client-ca.crt"),
               "--requestheader-client-ca-file", str(certs / "front-proxy-ca.crt"),
               "--requestheader-allowed-names", "front-proxy-client")
    try:
        assert ad.get(CUSTOM2, cert="admin")[0] == 200
        assert ad.get(CUSTOM2, cert="front-proxy-client", headers=proxy)[0] == 200
        assert ad.get(CUSTOM2, cert="cpadmin")[0] == 401
        assert ad.get(CUSTOM2, cert="cpproxy", headers=proxy)[0] == 401
    finally:
        stop(ad)


def test_client_certificates_follow_a_configmap_reload(env):
    cp, proxy = env["cp"], PROXY
    # No CA flag, ConfigMap unreadable at start (tolerated): no CA yet ...
    ad = start(env, "--authentication-tolerate-lookup-failure")
    try:
        assert ad.get(CUSTOM2, cert="cpadmin")[0] == 401
        cp.apply(READER)
        # ... the reload brings the cluster's CAs, and the TLS layer asks for certificates.
        kh.wait_until(lambda: ad.get(CUSTOM2, cert="cpadmin")[0] == 200, timeout=RELOAD_S,
                      interval=1, what="the cluster's client CA after the ConfigMap reload")
        assert ad.get(CUSTOM2, cert="cpproxy", headers=proxy)[0] == 200
        assert ad.get(CUSTOM2, cert="admin")[0] == 401
    finally:
        stop(ad)


def test_the_configmap_fills_only_what_the_flags_do_not_set(env):
    cp, certs, proxy = env["cp"], env["certs"], PROXY
    cp.apply(READER)
    # Only --client-ca-file: the client CA is the flag's, the request-header settings all come
    # from the ConfigMap, and --requestheader-allowed-names alone is ignored.
    ad = start(env, "--client-ca-file", str(certs / "client-ca.crt"),
               "--requestheader-allowed-names", "nobody")
    try:
        assert ad.get(CUSTOM2, cert="admin")[0] == 200
        assert ad.get(CUSTOM2, cert="cpadmin")[0] == 401
        assert ad.get(CUSTOM2, cert="cpproxy", headers=proxy)[0] == 200
        assert ad.get(CUSTOM2, cert="front-proxy-client", headers=proxy)[0] == 401
    finally:
        stop(ad)
    # Only the request-header CA flag: client CA from the ConfigMap, front proxy from flags.
    ad = start(env, "--requestheader-client-ca-file", str(certs / "front-proxy-ca.crt"))
    try:
        assert ad.get(CUSTOM2, cert="cpadmin")[0] == 200
        assert ad.get(CUSTOM2, cert="admin")[0] == 401
        assert ad.get(CUSTOM2, cert="front-proxy-client", headers=proxy)[0] == 200
        assert ad.get(CUSTOM2, cert="cpproxy", headers=proxy)[0] == 401
    finally:
        stop(ad)


def test_remote_extra_reaches_the_subject_access_review(env):
    cp = env["cp"]
    cp.apply(READER)
    ad = start(env, "--authorization-cache-ttl", "60s")
    try:
        hdrs = [("X-Remote-User", "extra-user"), ("X-Remote-Group", "team"),
                ("X-Remote-Extra-Scopes", "view"), ("X-Remote-Extra-Scopes", "edit"),
                ("X-Remote-Extra-Acme.com%2Fproject", "p1"),
                ("x-remote-extra-EMPTY", "")]
        st, body = ad.get(LAG, cert="cpproxy", headers=hdrs)
        assert st == 403 and body["reason"] == "Forbidden", body
        assert body["message"] == (
            'kafka_consumergroup_lag.external.metrics.k8s.io is forbidden: User "extra-user" '
            'cannot list resource "kafka_consumergroup_lag" in API group '
            '"external.metrics.k8s.io" in the namespace "kos"'), body
        # the same user with another extra value: a different review, not the cached answer
        hdrs2 = [h if h[0] != "X-Remote-Extra-Acme.com%2Fproject" else (h[0], "p2") for h in hdrs]
        assert ad.get(LAG, cert="cpproxy", headers=hdrs2)[0] == 403
        assert ad.get(LAG, cert="cpproxy", headers=hdrs)[0] == 403  # cached: no third review

        def reviews():
            specs = sar_specs(env, "extra-user")
            return specs if len(specs) >= 2 else None
        specs = kh.wait_until(reviews, timeout=10, what="two SubjectAccessReviews audited")
        assert len(specs) == 2, specs
        assert specs[0]["groups"] == ["team", "system:authenticated"]
        assert specs[0]["extra"] == {"scopes": ["view", "edit"], "acme.com/project": ["p1"],
                                     "empty": [""]}, specs[0]
        assert specs[1]["extra"]["acme.com/project"] == ["p2"], specs[1]
    finally:
        stop(ad)


def test_internal_errors_do_not_echo_the_apiserver(env):
    cp = env["cp"]
    cp.apply(READER)
    ad = start(env)
    try:
        # the adapter's ServiceAccount may not list pods: the apiserver's 403 names it
        st, body = ad.get(PODS, cert="cpadmin")
        assert st == 500 and body["reason"] == "InternalError", body
        assert "kos-adapter" not in json.dumps(body) and "forbidden" not in json.dumps(body)
        assert body["message"].startswith("Internal error occurred: "), body
        kh.wait_until(lambda: "system:serviceaccount:kos:kos-adapter" in ad.stderr(), timeout=5,
                      what="the apiserver's answer in the adapter's log")
    finally:
        stop(ad)
