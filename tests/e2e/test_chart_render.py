"""charts/kos offline (ctest e2e.chart_render): helm v4.3.2 (scripts/install-k8s.sh) lints and
renders the chart, kubectl's kustomize renders manifests/ with the components of issue 12 item 9
and 12; no cluster.

* `helm lint --strict` with the defaults and every charts/kos/ci/*-values.yaml.
* `helm template kos -n kos -f ci/kustomize-base-values.yaml` gives the objects of
  `kubectl kustomize manifests/base`: same kinds, names, namespaces and whole objects, after a
  normalisation that ignores exactly this (and nothing else):
    - the Namespace object of the base: a chart does not create its release namespace (helm
      install --create-namespace does);
    - the labels helm.sh/chart, app.kubernetes.io/managed-by, app.kubernetes.io/version and
      app.kubernetes.io/instance, in metadata.labels and in every selector/matchLabels: Helm's
      standard labels; the instance label also keeps two releases in one namespace from
      selecting each other's pods, which kustomize (one copy per namespace) does not need;
    - the pod-template annotations checksum/*: the chart rolls the adapter when the mapping,
      certificate or Kafka properties change; kustomize does it with the content hash in the
      generated ConfigMap's name ...
    - ... which is therefore removed: kos-adapter-mapping-<hash> -> kos-adapter-mapping
      (everywhere it is referenced);
    - mapping.txt is compared as its rules (comment lines and column spacing dropped: the
      adapter's parser ignores them).
  The same with the components: base + grafana-dashboard == chart with grafanaDashboard.enabled;
  base + without-external-metrics == chart with apiService.external.v1beta1=false and no datagen
  HPA; base + without-custom-metrics serves the same APIServices and processor HPA as
  ci/beside-prometheus-adapter-values.yaml.
* every subset of the three APIServices, in the chart and with the components; an HPA of the
  chart on a group kos leaves to another adapter is refused with a message.
* TLS: helm (genCA/genSignedCert: caBundle = the Secret's CA, the certificate verifies against
  it with the Service's DNS name), existingSecret, cert-manager (cert-manager.io/inject-ca-from),
  insecureSkipTLSVerify; the ServiceMonitor, PodMonitor and dashboard ConfigMap; values reaching
  the objects; bad values refused with a message naming them.
"""

import base64
import difflib
import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_k8s  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kos"
BASE_VALUES = CHART / "ci" / "kustomize-base-values.yaml"
APISERVICES = ("v1beta2.custom.metrics.k8s.io", "v1beta1.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")
HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version",
                    "app.kubernetes.io/instance"}
KUSTOMIZE_HASH = re.compile(r"^(.*)-[a-z0-9]{10}$")


# ---- tools ---------------------------------------------------------------------------------


def run(cmd, check=True, **kw):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"command failed (exit {p.returncode}): {' '.join(map(str, cmd))}\n"
                             f"--- stdout ---\n{p.stdout}--- stderr ---\n{p.stderr}")
    return p


def helm():
    return kos_k8s.binary("helm")


def template(*args, release="kos", ns="kos", values=BASE_VALUES):
    """helm template RELEASE charts/kos -n NS [-f VALUES] ARGS -> the objects."""
    cmd = [helm(), "template", release, CHART, "-n", ns]
    if values:
        cmd += ["-f", values]
    out = run([*cmd, *args]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def template_error(*args, values=None):
    """helm template that must fail: returns its stderr."""
    cmd = [helm(), "template", "kos", CHART, "-n", "kos"]
    if values:
        cmd += ["-f", values]
    p = run([*cmd, *args], check=False)
    assert p.returncode != 0, f"helm template {' '.join(args)} should have failed:\n{p.stdout[:2000]}"
    return p.stderr


def kustomize(path):
    out = run([kos_k8s.kubectl_path(), "kustomize", path]).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of manifests/ and dashboards/ where overlays can be written (kustomize reads
    only below a kustomization's root, and the repo is never written to)."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(REPO / "manifests", root / "manifests")
    shutil.copytree(REPO / "dashboards", root / "dashboards")
    return root


def overlay(tree, name, components):
    d = tree / "manifests" / "overlays" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["../../base"],
        "components": [f"../../components/{c}" for c in components]}))
    return kustomize(d)


def find(objs, kind, name=None):
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return hits


def one(objs, kind, name=None):
    hits = find(objs, kind, name)
    assert len(hits) == 1, f"{kind} {name}: {len(hits)} objects"
    return hits[0]


def apiservice_names(objs):
    return {o["metadata"]["name"] for o in objs if o["kind"] == "APIService"}


# ---- the normalisation (see the module docstring) --------------------------------------------


def _drop_helm_labels(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k in ("labels", "matchLabels", "selector") and isinstance(v, dict):
                for h in HELM_ONLY_LABELS:
                    v.pop(h, None)
            _drop_helm_labels(v)
    elif isinstance(o, list):
        for x in o:
            _drop_helm_labels(x)


def normalise(objs, from_kustomize):
    renames = {}
    if from_kustomize:
        for o in objs:
            m = KUSTOMIZE_HASH.match(o["metadata"]["name"])
            if o["kind"] == "ConfigMap" and m:
                renames[o["metadata"]["name"]] = m.group(1)
    out = {}
    for o in objs:
        if from_kustomize and o["kind"] == "Namespace":
            continue
        text = json.dumps(o)
        for old, new in renames.items():
            text = text.replace(json.dumps(old), json.dumps(new))
        o = json.loads(text)
        _drop_helm_labels(o)
        tmeta = o.get("spec", {}).get("template", {}).get("metadata", {})
        if "annotations" in tmeta:
            tmeta["annotations"] = {k: v for k, v in tmeta["annotations"].items()
                                    if not k.startswith("checksum/")}
            if not tmeta["annotations"]:
                del tmeta["annotations"]
        if o["kind"] == "ConfigMap" and "mapping.txt" in o.get("data", {}):
            o["data"]["mapping.txt"] = [l.split() for l in o["data"]["mapping.txt"].splitlines()
                                        if l.strip() and not l.lstrip().startswith("#")]
        md = o["metadata"]
        key = (o["kind"], md.get("namespace", ""), md["name"])
        assert key not in out, f"duplicate {key}"
        out[key] = o
    return out


def assert_same_objects(kust, chart):
    k, h = normalise(kust, True), normalise(chart, False)
    problems = []
    if set(k) - set(h):
        problems.append(f"only in kustomize: {sorted(set(k) - set(h))}")
    if set(h) - set(k):
        problems.append(f"only in the chart: {sorted(set(h) - set(k))}")

    for key in sorted(set(k) & set(h)):
        if k[key] != h[key]:
            a = yaml.safe_dump(k[key], sort_keys=True).splitlines()
            b = yaml.safe_dump(h[key], sort_keys=True).splitlines()
            problems.append(f"{key}:\n" + "\n".join(
                difflib.unified_diff(a, b, "kustomize", "helm", lineterm="", n=2)))
    assert not problems, "\n".join(problems)
    return k


# ---- lint ----------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, *sorted((CHART / "ci").glob("*-values.yaml"))],
                         ids=lambda v: v.name if v else "defaults")
def test_helm_lint(values):
    cmd = [helm(), "lint", "--strict", CHART]
    if values:
        cmd += ["-f", values]
    out = run(cmd).stdout
    assert "0 chart(s) failed" in out and "[ERROR]" not in out and "[WARNING]" not in out, out


def test_helm_is_the_pinned_version():
    want = kos_k8s.versions()["HELM_VERSION"]
    assert run([helm(), "version", "--template", "{{.Version}}"]).stdout.strip() == want


# ---- the chart renders the kustomize base --------------------------------------------------


def test_template_renders_the_kustomize_base(tree):
    kust = kustomize(tree / "manifests" / "base")
    same = assert_same_objects(kust, template())
    # not vacuous: every kind of the base is there, and all three programs
    kinds = {k[0] for k in same}
    assert kinds == {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "RoleBinding",
                     "ConfigMap", "Secret", "Service", "Deployment", "PodDisruptionBudget",
                     "APIService", "HorizontalPodAutoscaler"}, kinds
    assert {k[2] for k in same if k[0] == "Deployment"} == {"kos-adapter", "kos-processor",
                                                           "kos-datagen"}
    assert len(same) == len(kust) - 1  # all but the Namespace


def test_the_comparison_sees_a_difference(tree):
    # the normalisation ignores only what the docstring says: a one-value change is caught
    kust = kustomize(tree / "manifests" / "base")
    for args in (["--set", "replicas=3"], ["--set", "apiService.groupPriorityMinimum=1000"],
                 ["--set", "podLabels.x=y"], ["--set", "mapping.demoRules=false"],
                 ["--set", "datagen.rate=1001"], ["--set", "commonLabels.team=a"]):
        with pytest.raises(AssertionError):
            assert_same_objects(kust, template(*args))


def test_template_renders_base_plus_grafana_dashboard(tree):
    kust = overlay(tree, "dash", ["grafana-dashboard"])
    assert_same_objects(kust, template("--set", "grafanaDashboard.enabled=true"))
    cm = one(kust, "ConfigMap", "kos-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["data"]["kos.json"] == (REPO / "dashboards" / "kos.json").read_text()


def test_template_renders_base_without_external_metrics(tree):
    kust = overlay(tree, "keda", ["without-external-metrics"])
    assert_same_objects(kust, template("--set", "apiService.external.v1beta1=false",
                                       "--set", "datagen.autoscaling.enabled=false"))
    assert apiservice_names(kust) == set(APISERVICES[:2])
    # no HPA left that asks external.metrics.k8s.io (the other adapter's group)
    assert all(m["type"] != "External" for h in find(kust, "HorizontalPodAutoscaler")
               for m in h["spec"]["metrics"])


def test_base_without_custom_metrics_matches_the_prometheus_adapter_values(tree):
    kust = overlay(tree, "promadapter", ["without-custom-metrics"])
    chart = template("-f", CHART / "ci" / "beside-prometheus-adapter-values.yaml",
                     "--set-json", "processor.autoscaling.behavior=" + json.dumps(
                         one(kust, "HorizontalPodAutoscaler", "kos-processor")["spec"]["behavior"]))
    assert apiservice_names(kust) == apiservice_names(chart) == {APISERVICES[2]}
    k_hpa = one(kust, "HorizontalPodAutoscaler", "kos-processor")["spec"]
    h_hpa = one(chart, "HorizontalPodAutoscaler", "kos-processor")["spec"]
    assert k_hpa == h_hpa
    # no HPA left that asks custom.metrics.k8s.io
    for objs in (kust, chart):
        assert all(m["type"] == "External" for h in find(objs, "HorizontalPodAutoscaler")
                   for m in h["spec"]["metrics"])


# ---- APIService subsets ----------------------------------------------------------------------


@pytest.mark.parametrize("v1beta2,v1beta1,external", list(itertools.product([True, False], repeat=3)))
def test_every_apiservice_subset(v1beta2, v1beta1, external):
    objs = template("--set", f"apiService.custom.v1beta2={str(v1beta2).lower()}",
                    "--set", f"apiService.custom.v1beta1={str(v1beta1).lower()}",
                    "--set", f"apiService.external.v1beta1={str(external).lower()}",
                    "--set", "processor.enabled=false", "--set", "datagen.enabled=false")
    want = {n for n, on in zip(APISERVICES, (v1beta2, v1beta1, external)) if on}
    assert apiservice_names(objs) == want
    for a in find(objs, "APIService"):
        s = a["spec"]
        assert f"{s['version']}.{s['group']}" == a["metadata"]["name"]
        assert s["service"] == {"name": "kos-adapter", "namespace": "kos", "port": 443}
        assert s["versionPriority"] == (200 if s["version"] == "v1beta2" else 100)
        assert s["insecureSkipTLSVerify"] is False and s["caBundle"]
    # the adapter itself is there whatever is registered
    assert one(objs, "Deployment", "kos-adapter")


def test_kustomize_subsets(tree):
    both = overlay(tree, "none", ["without-external-metrics", "without-custom-metrics"])
    assert apiservice_names(both) == set()
    assert apiservice_names(overlay(tree, "all", [])) == set(APISERVICES)


@pytest.mark.parametrize("args,message", [
    (["--set", "datagen.enabled=true", "--set", "apiService.external.v1beta1=false"],
     "datagen.autoscaling: an External metric is served through external.metrics.k8s.io, but "
     "apiService.external.v1beta1=false leaves that group to another adapter"),
    (["--set", "processor.enabled=true", "--set", "apiService.custom.v1beta2=false",
      "--set", "apiService.custom.v1beta1=false"],
     "processor.autoscaling: a Pods metric is served through custom.metrics.k8s.io, but "
     "apiService.custom leaves that group to another adapter"),
])
def test_an_hpa_on_a_group_left_to_another_adapter_is_refused(args, message):
    assert message in template_error(*args)
    # ... and accepted without the HPA
    template(*args, "--set", "datagen.autoscaling.enabled=false",
             "--set", "processor.autoscaling.enabled=false", values=None)


# ---- TLS -----------------------------------------------------------------------------------


def pem_files(tmp_path, **blobs):
    paths = {}
    for name, b64 in blobs.items():
        p = tmp_path / f"{name}.pem"
        p.write_bytes(base64.b64decode(b64))
        paths[name] = p
    return paths


def test_tls_helm_generates_a_ca_and_a_certificate_for_the_service(tmp_path):
    objs = template("--set", "tls.type=helm", release="metrics", ns="obs", values=None)
    secret = one(objs, "Secret", "metrics-kos-adapter-serving-cert")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["namespace"] == "obs"
    data = secret["data"]
    assert set(data) == {"ca.crt", "tls.crt", "tls.key"}
    for a in find(objs, "APIService"):
        assert a["spec"]["caBundle"] == data["ca.crt"], "one CA for the Secret and every caBundle"
        assert a["spec"]["service"] == {"name": "metrics-kos-adapter", "namespace": "obs",
                                        "port": 443}
    f = pem_files(tmp_path, ca=data["ca.crt"], crt=data["tls.crt"], key=data["tls.key"])
    # the aggregator's check: chain to the caBundle and the name <service>.<namespace>.svc
    run(["openssl", "verify", "-CAfile", f["ca"], "-verify_hostname", "metrics-kos-adapter.obs.svc",
         "-purpose", "sslserver", f["crt"]])
    text = run(["openssl", "x509", "-in", f["crt"], "-noout", "-ext", "subjectAltName"]).stdout
    sans = {s.strip() for s in text.splitlines()[1].split(",")}
    assert sans == {"DNS:metrics-kos-adapter", "DNS:metrics-kos-adapter.obs",
                    "DNS:metrics-kos-adapter.obs.svc",
                    "DNS:metrics-kos-adapter.obs.svc.cluster.local"}, text
    # the key belongs to the certificate
    pub_crt = run(["openssl", "x509", "-in", f["crt"], "-noout", "-pubkey"]).stdout
    pub_key = run(["openssl", "pkey", "-in", f["key"], "-pubout"]).stdout
    assert pub_crt == pub_key
    dep = one(objs, "Deployment", "metrics-kos-adapter")
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "metrics-kos-adapter-serving-cert"
    # a new certificate (no cluster to look the old one up in) rolls the pods
    again = one(template("--set", "tls.type=helm", release="metrics", ns="obs", values=None),
                "Deployment", "metrics-kos-adapter")
    ann = lambda d: d["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]  # noqa: E731
    assert ann(again) != ann(dep)


def test_tls_existing_secret(tmp_path):
    err = template_error("--set", "tls.type=existingSecret", "--set",
                         "tls.existingSecret.name=mine")
    assert "tls.type=existingSecret: set apiService.caBundle" in err and "Secret mine" in err
    assert "tls.existingSecret.name is required" in template_error("--set", "tls.type=existingSecret")
    objs = template("--set", "tls.type=existingSecret", "--set", "tls.existingSecret.name=mine",
                    "--set", "apiService.caBundle=PEM-OF-THE-CA", values=None)
    assert not find(objs, "Secret", "kos-adapter-serving-cert")
    assert {a["spec"]["caBundle"] for a in find(objs, "APIService")} == \
        {base64.b64encode(b"PEM-OF-THE-CA").decode()}
    vols = {v["name"]: v for v in one(objs, "Deployment", "kos-adapter")["spec"]["template"]
            ["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == "mine"


def test_tls_cert_manager():
    objs = template("-f", CHART / "ci" / "tls-cert-manager-values.yaml", values=None)
    assert {(o["kind"], o["metadata"]["name"]) for o in objs if o["apiVersion"].startswith("cert-manager.io/")} == {
        ("Issuer", "kos-adapter-selfsigned"), ("Certificate", "kos-adapter-ca"),
        ("Issuer", "kos-adapter-ca"), ("Certificate", "kos-adapter-serving-cert")}
    cert = one(objs, "Certificate", "kos-adapter-serving-cert")["spec"]
    assert "kos-adapter.kos.svc" in cert["dnsNames"]
    assert cert["issuerRef"] == {"name": "kos-adapter-ca", "kind": "Issuer", "group": "cert-manager.io"}
    assert one(objs, "Certificate", "kos-adapter-ca")["spec"]["isCA"] is True
    for a in find(objs, "APIService"):
        assert a["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == \
            "kos/kos-adapter-serving-cert"
        assert "caBundle" not in a["spec"]  # the cainjector fills it
    vols = {v["name"]: v for v in one(objs, "Deployment", "kos-adapter")["spec"]["template"]
            ["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == cert["secretName"]
    assert not find(objs, "Secret", "kos-adapter-serving-cert")
    # an existing issuer: no issuers of the chart's own
    objs = template("--set", "tls.type=cert-manager", "--set", "tls.certManager.existingIssuer.enabled=true",
                    "--set", "tls.certManager.existingIssuer.name=corp-ca", values=None)
    assert not find(objs, "Issuer")
    assert one(objs, "Certificate")["spec"]["issuerRef"] == {
        "name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}


def test_insecure_skip_tls_verify_drops_the_ca_bundle():
    objs = template("--set", "apiService.insecureSkipTLSVerify=true", values=None)
    for a in find(objs, "APIService"):
        assert a["spec"]["insecureSkipTLSVerify"] is True and "caBundle" not in a["spec"]


# ---- values reach the objects ---------------------------------------------------------------


def pod_spec(objs, name="kos-adapter"):
    return one(objs, "Deployment", name)["spec"]["template"]["spec"]


def test_adapter_values(tmp_path):
    vals = tmp_path / "v.yaml"
    vals.write_text(yaml.safe_dump({
        "replicas": 3, "priorityClassName": "system-cluster-critical",
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway"}],
        "tolerations": [{"key": "k", "operator": "Exists"}], "nodeSelector": {"pool": "sys"},
        "podLabels": {"l": "1"}, "podAnnotations": {"a": "1"},
        "imagePullSecrets": [{"name": "reg"}],
        "image": {"repository": "r.example/kos", "tag": "1.2.3", "pullPolicy": "Always"},
        "resources": {"requests": {"cpu": "1"}},
        "securityContext": {"runAsUser": 1000},
        "extraArgs": ["--kube-cache-ttl=5s"], "defaultArgs": ["--refresh-interval=2s"],
        "env": [{"name": "X", "value": "z1"}],
        "extraVolumes": [{"name": "extra", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "extra", "mountPath": "/x"}],
        "serviceAccount": {"name": "sa1", "annotations": {"iam": "role"}},
        "podDisruptionBudget": {"minAvailable": None, "maxUnavailable": 1},
        "service": {"type": "ClusterIP", "port": 8443, "annotations": {"s": "1"}},
        "commonLabels": {"team": "data"},
        "podAntiAffinityPreset": "hard",
        "mapping": {"rules": [{"namespace": "{{ .Release.Namespace }}", "resource": "statefulsets.apps",
                               "name": "c", "group": "g1", "topics": ["t1", "t2"]}]},
    }))
    objs = template("-f", vals, values=None)
    dep = one(objs, "Deployment", "kos-adapter")
    spec = dep["spec"]["template"]["spec"]
    c = spec["containers"][0]
    assert dep["spec"]["replicas"] == 3
    assert spec["priorityClassName"] == "system-cluster-critical"
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert spec["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert spec["nodeSelector"] == {"pool": "sys"}
    assert spec["imagePullSecrets"] == [{"name": "reg"}]
    assert spec["serviceAccountName"] == "sa1"
    assert one(objs, "ServiceAccount", "sa1")["metadata"]["annotations"] == {"iam": "role"}
    for s in ("ClusterRoleBinding", "RoleBinding"):
        for b in find(objs, s):
            assert b["subjects"] == [{"kind": "ServiceAccount", "name": "sa1", "namespace": "kos"}]
    req = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert req[0]["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    tmeta = dep["spec"]["template"]["metadata"]
    assert tmeta["labels"]["l"] == "1" and tmeta["annotations"]["a"] == "1"
    assert c["image"] == "r.example/kos:1.2.3" and c["imagePullPolicy"] == "Always"
    assert c["resources"]["requests"] == {"cpu": "1", "memory": "64Mi"}  # merged with the defaults
    assert c["securityContext"]["runAsUser"] == 1000
    assert c["securityContext"]["readOnlyRootFilesystem"] is True  # merged with the defaults
    assert c["args"][-2:] == ["--refresh-interval=2s", "--kube-cache-ttl=5s"]
    assert c["env"] == [{"name": "X", "value": "z1"}]
    assert {"name": "extra", "mountPath": "/x"} in c["volumeMounts"]
    assert {"name": "extra", "emptyDir": {}} in spec["volumes"]
    assert one(objs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1, "selector": dep["spec"]["selector"]}
    svc = one(objs, "Service", "kos-adapter")
    assert svc["spec"]["ports"][0]["port"] == 8443 and svc["metadata"]["annotations"] == {"s": "1"}
    assert {a["spec"]["service"]["port"] for a in find(objs, "APIService")} == {8443}
    for o in objs:
        assert o["metadata"]["labels"]["team"] == "data", (o["kind"], o["metadata"]["name"])
    mapping = one(objs, "ConfigMap", "kos-adapter-mapping")["data"]["mapping.txt"]
    rules = [l.split() for l in mapping.splitlines() if l and not l.startswith("#")]
    assert rules == [["kos", "statefulsets.apps", "c", "g1", "t1,t2"]]  # no demo: no demo rules


def test_rbac_and_service_account_switches():
    objs = template("--set", "rbac.create=false", "--set", "serviceAccount.create=false",
                    "--set", "serviceAccount.name=given", values=None)
    assert not find(objs, "ServiceAccount")
    assert not [o for o in objs if o["apiVersion"].startswith("rbac.authorization.k8s.io/")]
    assert pod_spec(objs)["serviceAccountName"] == "given"
    assert "serviceAccount.name is required" in template_error("--set", "serviceAccount.create=false")


def test_datagen_control_token():
    """PUT /rate needs a bearer token (issue 9.13): by default the chart makes a Secret with a
    random one and mounts it; existingSecret names the user's own and the chart makes none."""
    objs = template("--set", "datagen.enabled=true", values=None)
    sec = one(objs, "Secret", "kos-datagen-control")
    token = base64.b64decode(sec["data"]["token"]).decode()
    assert len(token) == 64 and token.isalnum()
    assert base64.b64decode(one(template("--set", "datagen.enabled=true", values=None), "Secret",
                                     "kos-datagen-control")["data"]["token"]).decode() != token
    spec = pod_spec(objs, "kos-datagen")
    args = spec["containers"][0]["args"]
    assert "--control-token-file=/etc/kos/control/token" in args
    mounts = {m["name"]: m for m in spec["containers"][0]["volumeMounts"]}
    assert mounts["control"] == {"name": "control", "mountPath": "/etc/kos/control",
                                 "readOnly": True}
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["control"]["secret"] == {"secretName": "kos-datagen-control",
                                         "items": [{"key": "token", "path": "token"}]}
    # the processor has no control port: nothing mounted
    objs = template("--set", "processor.enabled=true", values=None)
    assert "control" not in {v["name"] for v in pod_spec(objs, "kos-processor")["volumes"]}
    assert not [s for s in find(objs, "Secret") if s["metadata"]["name"].endswith("-control")]
    objs = template("--set", "datagen.enabled=true",
                    "--set", "datagen.controlToken.existingSecret=my-token", values=None)
    assert not [s for s in find(objs, "Secret") if s["metadata"]["name"].endswith("-control")]
    vols = {v["name"]: v for v in pod_spec(objs, "kos-datagen")["volumes"]}
    assert vols["control"]["secret"]["secretName"] == "my-token"


def test_hpa_owned_replicas_are_not_rendered():
    """With autoscaling the HPA owns the replicas: an upgrade must not reset them (as
    manifests/base); without it the Deployment states them."""
    objs = template("--set", "processor.enabled=true", "--set", "datagen.enabled=true",
                    values=None)
    for name in ("kos-processor", "kos-datagen"):
        assert "replicas" not in one(objs, "Deployment", name)["spec"]
    objs = template("--set", "processor.enabled=true", "--set", "processor.replicas=3",
                    "--set", "processor.autoscaling.enabled=false", values=None)
    assert one(objs, "Deployment", "kos-processor")["spec"]["replicas"] == 3


def test_kafka_and_mapping_from_existing_objects():
    objs = template("--set", "kafka.adapter.existingSecret=adapter-creds",
                    "--set", "kafka.clients.existingSecret=app-creds",
                    "--set", "mapping.existingConfigMap=my-rules",
                    "--set", "processor.enabled=true", "--set", "datagen.enabled=true", values=None)
    # only the chart's TLS Secret and datagen's control token
    assert sorted(s["metadata"]["name"] for s in find(objs, "Secret")) == [
        "kos-adapter-serving-cert", "kos-datagen-control"]
    assert not find(objs, "ConfigMap")
    vols = {v["name"]: v for v in pod_spec(objs)["volumes"]}
    # an existing Secret is mounted whole: it may carry ssl.ca.location files beside kafka.properties
    assert vols["kafka"]["secret"] == {"secretName": "adapter-creds"}
    assert vols["mapping"]["configMap"] == {"name": "my-rules"}
    for name in ("kos-processor", "kos-datagen"):
        v = {v["name"]: v for v in pod_spec(objs, name)["volumes"]}
        assert v["kafka"]["secret"] == {"secretName": "app-creds"}
    # properties given inline: one Secret per principal, only kafka.properties mounted
    objs = template("--set-string", "kafka.adapter.properties=bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL",
                    "--set", "processor.enabled=true", values=None)
    sec = one(objs, "Secret", "kos-adapter-kafka")
    assert sec["stringData"]["kafka.properties"] == "bootstrap.servers=b:9092\nsecurity.protocol=SASL_SSL\n"
    assert one(objs, "Secret", "kos-kafka")
    assert {v["name"]: v for v in pod_spec(objs)["volumes"]}["kafka"]["secret"]["items"] == [
        {"key": "kafka.properties", "path": "kafka.properties"}]


def test_demo_workload_values():
    objs = template("--set", "datagen.rate=1000000", "--set", "processor.autoscaling.maxReplicas=8",
                    "--set", "processor.extraArgs={--exactly-once}", values=BASE_VALUES)
    assert "--rate=1000000" in pod_spec(objs, "kos-datagen")["containers"][0]["args"]
    assert pod_spec(objs, "kos-processor")["containers"][0]["args"][-1] == "--exactly-once"
    assert one(objs, "HorizontalPodAutoscaler", "kos-processor")["spec"]["maxReplicas"] == 8
    objs = template("--set-string", "datagen.rate=max", values=BASE_VALUES)
    assert "--rate=max" in pod_spec(objs, "kos-datagen")["containers"][0]["args"]
    objs = template("--set", "processor.autoscaling.enabled=false", "--set", "datagen.enabled=false",
                    values=BASE_VALUES)
    assert not find(objs, "HorizontalPodAutoscaler") and not find(objs, "Deployment", "kos-datagen")
    # the demo off: no workload, no client Secret, no demo rules
    objs = template(values=None)
    assert {o["metadata"]["name"] for o in find(objs, "Deployment")} == {"kos-adapter"}
    assert not find(objs, "Secret", "kos-kafka")
    assert "KINGOFSCALING-APP" not in one(objs, "ConfigMap")["data"]["mapping.txt"]


def test_release_name_and_namespace():
    objs = template(release="metrics", ns="obs")
    names = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objs}
    assert ("Deployment", "metrics-kos-adapter", "obs") in names
    assert ("RoleBinding", "metrics-kos-adapter-auth-reader", "kube-system") in names
    assert ("ClusterRoleBinding", "metrics-kos-adapter:system:auth-delegator", None) in names
    for a in find(objs, "APIService"):
        assert a["spec"]["service"]["namespace"] == "obs"
    rules = one(objs, "ConfigMap")["data"]["mapping.txt"]
    assert "obs  deployments.apps  metrics-kos-processor  KINGOFSCALING-APP" in rules
    hpa = one(objs, "HorizontalPodAutoscaler", "metrics-kos-processor")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "metrics-kos-processor"


# ---- monitoring ----------------------------------------------------------------------------


def test_service_monitor_pod_monitor_and_dashboard():
    objs = template("-f", CHART / "ci" / "monitoring-values.yaml", values=None)
    sm = one(objs, "ServiceMonitor")
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] == "https" and ep["scheme"] == "https" and ep["path"] == "/metrics"
    assert ep["bearerTokenFile"] == "/var/run/secrets/kubernetes.io/serviceaccount/token"
    assert ep["tlsConfig"] == {"serverName": "kos-adapter.kos.svc",
                               "ca": {"secret": {"name": "kos-adapter-serving-cert", "key": "ca.crt"}}}
    svc = one(objs, "Service", "kos-adapter")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    role = one(objs, "ClusterRole", "kos-adapter-metrics-reader")
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    crb = one(objs, "ClusterRoleBinding", "kos-adapter-metrics-reader")
    assert crb["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s",
                                "namespace": "monitoring"}]
    pm = one(objs, "PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    apps = pm["spec"]["selector"]["matchExpressions"][0]["values"]
    for name in ("kos-processor", "kos-datagen"):
        tl = one(objs, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
        assert tl["app.kubernetes.io/name"] in apps
        assert tl["app.kubernetes.io/instance"] == pm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"]
        ports = pod_spec(objs, name)["containers"][0]["ports"]
        assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in ports
    cm = one(objs, "ConfigMap", "kos-grafana-dashboard")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "kos"}
    assert cm["data"]["kos.json"] == (REPO / "dashboards" / "kos.json").read_text()
    json.loads(cm["data"]["kos.json"])
    # existingSecret: no CA known to the chart
    objs = template("--set", "serviceMonitor.enabled=true", "--set",
                    "grafanaDashboard.namespace=grafana", "--set", "grafanaDashboard.enabled=true")
    assert one(objs, "ServiceMonitor")["spec"]["endpoints"][0]["tlsConfig"] == {"insecureSkipVerify": True}
    assert one(objs, "ConfigMap", "kos-grafana-dashboard")["metadata"]["namespace"] == "grafana"
    assert not find(objs, "ClusterRole", "kos-adapter-metrics-reader")


# ---- bad values ----------------------------------------------------------------------------


@pytest.mark.parametrize("args,message", [
    (["--set", "replicas=-1"], "at '/replicas': minimum: got -1, want 0"),
    (["--set", "replicas=two"], "at '/replicas': got string, want integer"),
    (["--set", "replica=3"], "additional properties 'replica' not allowed"),
    (["--set", "tls.type=selfsigned"], "at '/tls/type': value must be one of 'helm', 'existingSecret', 'cert-manager'"),
    (["--set", "apiService.custom.v1beta2=yes"], "at '/apiService/custom/v1beta2': got string, want boolean"),
    (["--set", "apiService.external.v1beta2=true"], "additional properties 'v1beta2' not allowed"),
    (["--set", "service.port=0"], "at '/service/port': minimum: got 0, want 1"),
    (["--set", "podAntiAffinityPreset=maybe"], "at '/podAntiAffinityPreset'"),
    (["--set", "datagen.rate=-5"], "at '/datagen/rate'"),
    (["--set", "processor.autoscaling.metrics=null"], "at '/processor/autoscaling': missing property 'metrics'"),
    (["--set-json", "processor.autoscaling.metrics=[]"], "at '/processor/autoscaling/metrics'"),
    (["--set-json", 'mapping.rules=[{"namespace":"a","resource":"pods","name":"*"}]'],
     "missing property 'group'"),
    (["--set-json", 'mapping.rules=[{"namespace":"a","resource":"pods","name":"*","group":""}]'],
     "at '/mapping/rules/0/group'"),
    (["--set", "podDisruptionBudget.maxUnavailable=1"], "set minAvailable or maxUnavailable, not both"),
    (["--set", "podDisruptionBudget.minAvailable=50x"], "at '/podDisruptionBudget/minAvailable'"),
    (["--set", "kafka.adapter.properties="], "kafka.adapter.properties or kafka.adapter.existingSecret is required"),
    (["--set", "tls.type=cert-manager", "--set", "tls.certManager.existingIssuer.enabled=true"],
     "tls.certManager.existingIssuer.name is required"),
    (["--set", "tls.certManager.duration=90 days"], "at '/tls/certManager/duration'"),
    (["--set", "serviceMonitor.enabled=true", "--set", "serviceMonitor.prometheusServiceAccount.name=p"],
     "serviceMonitor.prometheusServiceAccount.namespace is required"),
    (["--set", "image.repository="], "at '/image/repository'"),
])
def test_bad_values_are_refused_with_a_message(args, message):
    err = template_error(*args)
    assert message in err, err
