"""Offline checks of manifests/ and terraform/ (no cluster, no cloud account).

manifests/: `kubectl kustomize` (every kubectl there is: the one built with the test control
plane, v1.37, and the machine's) renders the base, overlays/cloud (with certificates from
certs/gen-certs.sh), overlays/local (placeholders, and configured by its configure.sh),
overlays/local-external-lag and base + components/hpa-external-lag; the objects are then
checked for what kos relies on: the three APIServices, the adapter's Deployment, Service,
PodDisruptionBudget and RBAC, POD_NAME from the downward API, the HPAs and their metrics, and
the local overlay's loopback wiring (ExternalName 127.0.0.1, port and caBundle, kwok node).
Applying the local overlay to a real control plane is the job of the e2e tests that run the
adapter; nothing here talks to a cluster.

terraform/: `terraform fmt -check` with a real terraform (v1.5.7, built from the Go module
proxy) and a parse of every .tf with python-hcl2 (PyPI), both installed into $KOS_CACHE by
scripts/install-tf.sh, which this test runs itself (idempotent, a no-op once installed).
`terraform validate`/`plan` are NOT run: they need the provider plugins from the Terraform
registry, which the test machines cannot reach. What the parse checks instead: variables all
described and typed, every var./local./resource reference declared, every provider used is
pinned, the two input topics share the partition-count variable (co-partitioning), the GKE
cluster matches the original, and the Secrets and overlay paths terraform uses match
manifests/.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_k8s  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
TERRAFORM = REPO / "terraform"
INSTALL_TF = REPO / "scripts" / "install-tf.sh"
GEN_CERTS = REPO / "certs" / "gen-certs.sh"

NS = "kos"
IMAGE = "ghcr.io/kos-project/kos"
GROUP = "KINGOFSCALING-APP"
APISERVICES = {
    # name: (group, version, versionPriority)
    "v1beta2.custom.metrics.k8s.io": ("custom.metrics.k8s.io", "v1beta2", 200),
    "v1beta1.custom.metrics.k8s.io": ("custom.metrics.k8s.io", "v1beta1", 100),
    "v1beta1.external.metrics.k8s.io": ("external.metrics.k8s.io", "v1beta1", 100),
}
PLACEHOLDER_CA = base64.b64encode(b"REPLACE-ME: caBundle from certs/gen-certs.sh").decode()
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "APIService"}
LOCAL_PORT = 40123


# ---- tools ---------------------------------------------------------------------------------


def run(cmd, check=True, **kw):
    p = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=kw.pop("timeout", 900),
        stdin=subprocess.DEVNULL, **kw,
    )
    if check and p.returncode != 0:
        raise AssertionError(
            f"command failed (exit {p.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{p.stdout}--- stderr ---\n{p.stderr}"
        )
    return p


@pytest.fixture(scope="module")
def tf_tools():
    """$KOS_CACHE/tf-tools with bin/terraform and venv/ (python-hcl2, PyYAML): installed by
    scripts/install-tf.sh, which returns at once when everything is there."""
    run([INSTALL_TF])
    d = Path(run([INSTALL_TF, "--print-dir"]).stdout.strip())
    assert os.access(d / "bin" / "terraform", os.X_OK), d
    assert os.access(d / "venv" / "bin" / "python", os.X_OK), d
    return d


@pytest.fixture(scope="module")
def yaml_mod(tf_tools):
    try:
        import yaml  # Debian's python3-yaml
    except ImportError:  # else the venv's PyYAML (same interpreter: the venv is /usr/bin/python3's)
        sys.path.extend(str(p) for p in (tf_tools / "venv" / "lib").glob("python3*/site-packages"))
        import yaml
    return yaml


def kubectls():
    """Every kubectl on this machine whose kustomize must render our trees."""
    found = []
    for p in (kos_k8s.kubectl_path(), Path("/usr/bin/kubectl")):
        if os.access(p, os.X_OK) and p.resolve() not in [f.resolve() for f in found]:
            found.append(p)
    assert found, "no kubectl found (scripts/install-k8s.sh builds one; Debian has kubectl)"
    return found


def kustomize(yaml_mod, path, kubectl=None):
    """Renders PATH with `kubectl kustomize` and returns the objects; checks the basics every
    object needs."""
    out = run([kubectl or kubectls()[0], "kustomize", path]).stdout
    objs = [d for d in yaml_mod.safe_load_all(out) if d is not None]
    assert objs, f"{path} rendered nothing"
    seen = set()
    for o in objs:
        assert o.get("apiVersion") and o.get("kind"), f"{path}: object without apiVersion/kind: {o}"
        md = o.get("metadata") or {}
        assert md.get("name"), f"{path}: {o['kind']} without metadata.name"
        if o["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in md, f"{path}: cluster-scoped {o['kind']} {md['name']} has a namespace"
        else:
            assert md.get("namespace"), f"{path}: {o['kind']} {md['name']} has no namespace"
        key = (o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else "", o["kind"],
               md.get("namespace"), md["name"])
        assert key not in seen, f"{path}: duplicate object {key}"
        seen.add(key)
        assert "config.kubernetes.io/local-config" not in (md.get("annotations") or {}), (
            f"{path}: build-time object {o['kind']} {md['name']} was emitted"
        )
    return objs


def find(objs, kind, name, namespace=None):
    hits = [
        o for o in objs
        if o["kind"] == kind and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(hits) == 1, f"expected one {kind} {namespace}/{name}, found {len(hits)}"
    return hits[0]


def find_prefix(objs, kind, prefix, namespace=NS):
    hits = [
        o for o in objs
        if o["kind"] == kind and o["metadata"]["name"].startswith(prefix)
        and o["metadata"].get("namespace") == namespace
    ]
    assert len(hits) == 1, f"expected one {kind} {namespace}/{prefix}*, found {len(hits)}"
    return hits[0]


def absent(objs, kind, name):
    assert not [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name], (
        f"{kind} {name} should not be rendered"
    )


def container(dep, name=None):
    cs = dep["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1, f"{dep['metadata']['name']}: one container expected"
    if name:
        assert cs[0]["name"] == name
    return cs[0]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A copy of manifests/ (tests never write into the repo) with certificates generated into
    overlays/cloud/certs, as the cloud overlay documents, and a kustomization rendering
    base + components/hpa-external-lag."""
    root = tmp_path_factory.mktemp("manifests")
    shutil.copytree(MANIFESTS, root / "manifests", ignore=shutil.ignore_patterns("*.crt", "*.key", "*.b64"))
    m = root / "manifests"
    run([GEN_CERTS, m / "overlays" / "cloud" / "certs", "--service", "kos-adapter", "--namespace", NS])
    comp = m / "test-base-with-component"
    comp.mkdir()
    (comp / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources:\n  - ../base\ncomponents:\n  - ../components/hpa-external-lag\n"
    )
    return m


@pytest.fixture(scope="module")
def configured_local(tree, tmp_path_factory):
    """overlays/local configured by its own configure.sh with the cloud overlay's test CA."""
    dest = tmp_path_factory.mktemp("local")
    ca = tree / "overlays" / "cloud" / "certs" / "ca-bundle.b64"
    out = run([MANIFESTS / "overlays" / "local" / "configure.sh", dest, LOCAL_PORT, ca]).stdout.strip()
    ov = Path(out)
    assert ov == dest / "manifests" / "overlays" / "local" and (ov / "kustomization.yaml").exists(), out
    return ov, ca.read_text().strip()


RENDERS = {
    "base": lambda tree: tree / "base",
    "cloud": lambda tree: tree / "overlays" / "cloud",
    "node": lambda tree: tree / "overlays" / "node",
    "local": lambda tree: tree / "overlays" / "local",
    "local-external-lag": lambda tree: tree / "overlays" / "local-external-lag",
    "base+component": lambda tree: tree / "test-base-with-component",
}


@pytest.fixture(scope="module")
def rendered(tree, yaml_mod):
    return {name: kustomize(yaml_mod, f(tree)) for name, f in RENDERS.items()}


# ---- manifests: rendering --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_renders_with_every_kubectl(tree, yaml_mod, name):
    outs = [kustomize(yaml_mod, RENDERS[name](tree), k) for k in kubectls()]
    for o in outs[1:]:
        assert o == outs[0], f"{name}: kustomize versions of {kubectls()} disagree"


def test_component_alone_is_not_a_kustomization(yaml_mod):
    p = run([kubectls()[0], "kustomize", MANIFESTS / "components" / "hpa-external-lag"], check=False)
    assert p.returncode != 0  # a Component only works inside a kustomization, as documented


def test_repo_tree_renders_in_place(yaml_mod):
    """The committed base and local overlay render as they are (placeholders in place)."""
    kustomize(yaml_mod, MANIFESTS / "base")
    objs = kustomize(yaml_mod, MANIFESTS / "overlays" / "local")
    for name in APISERVICES:
        assert find(objs, "APIService", name)["spec"]["caBundle"] == PLACEHOLDER_CA


# ---- manifests: objects ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_apiservices(rendered, name):
    objs = rendered[name]
    found = {o["metadata"]["name"] for o in objs if o["kind"] == "APIService"}
    assert found == set(APISERVICES), f"{name}: APIServices {sorted(found)}"
    for api, (group, version, prio) in APISERVICES.items():
        o = find(objs, "APIService", api)
        assert o["apiVersion"] == "apiregistration.k8s.io/v1"
        s = o["spec"]
        assert (s["group"], s["version"], s["versionPriority"]) == (group, version, prio), api
        assert s["groupPriorityMinimum"] == 100
        assert s["service"]["name"] == "kos-adapter" and s["service"]["namespace"] == NS
        assert not s.get("insecureSkipTLSVerify"), f"{name}: {api} must verify the adapter"
        assert base64.b64decode(s["caBundle"], validate=True)
        port = s["service"]["port"]
        assert isinstance(port, int), f"{name}: {api} port {port!r} is not an integer"
        if name.startswith("local"):
            assert port == 6443  # the placeholder of overlays/local/params.env
        else:
            assert port == 443
            svc = find(objs, "Service", "kos-adapter", NS)
            assert [p["port"] for p in svc["spec"]["ports"]] == [443]


def test_adapter_deployment(rendered):
    objs = rendered["base"]
    dep = find(objs, "Deployment", "kos-adapter", NS)
    spec = dep["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "kos-adapter"
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items())
    # spread over nodes, preferred (never blocks scheduling)
    terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert terms and terms[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[0]["podAffinityTerm"]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]

    c = container(dep, "kos-adapter")
    assert c["image"].startswith(IMAGE + ":")
    args = c["args"]
    assert "--secure-port=6443" in args
    for flag in ("--refresh-interval=1s", "--max-staleness=15s", "--authorization-cache-ttl=10s"):
        assert flag in args
    assert c["ports"] == [{"name": "https", "containerPort": 6443, "protocol": "TCP"}]
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        g = c[probe]["httpGet"]
        assert (g["path"], g["scheme"], g["port"]) == (path, "HTTPS", "https"), probe
    res = c["resources"]
    assert set(res["requests"]) == {"cpu", "memory"} and set(res["limits"]) == {"cpu", "memory"}

    # every file the arguments name lives on a read-only mount of the right volume
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}

    def volume_of(path):
        for m in mounts.values():
            if path.startswith(m["mountPath"].rstrip("/") + "/"):
                assert m.get("readOnly"), f"{m['name']} should be read-only"
                return vols[m["name"]], path[len(m["mountPath"].rstrip("/")) + 1:]
        raise AssertionError(f"{path} is on no volume")

    argv = {a.split("=", 1)[0]: a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a}
    v, f = volume_of(argv["--tls-cert-file"])
    assert v["secret"]["secretName"] == "kos-adapter-serving-cert" and f == "tls.crt"
    v, f = volume_of(argv["--tls-private-key-file"])
    assert v["secret"]["secretName"] == "kos-adapter-serving-cert" and f == "tls.key"
    v, f = volume_of(argv["--mapping-file"])
    cm = find_prefix(objs, "ConfigMap", "kos-adapter-mapping")
    assert v["configMap"]["name"] == cm["metadata"]["name"] and f in cm["data"]
    v, f = volume_of(args[args.index("-F") + 1])
    assert v["secret"]["secretName"] == "kos-adapter-kafka" and f == "kafka.properties"
    assert "/tmp" in {m["mountPath"] for m in mounts.values()}  # writable scratch with a RO root

    # PodDisruptionBudget keeps one serving
    pdb = find(objs, "PodDisruptionBudget", "kos-adapter", NS)
    assert pdb["apiVersion"] == "policy/v1" and pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]

    # Service 443 -> the https port (6443), selecting the adapter's pods
    svc = find(objs, "Service", "kos-adapter", NS)
    assert svc["spec"]["selector"] == spec["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["targetPort"] == "https"


@pytest.mark.parametrize("name", ["base", "cloud", "node"])
def test_security_contexts(rendered, name):
    """Every workload runs non-root with a read-only root filesystem, no capabilities, no
    privilege escalation and the runtime's seccomp profile."""
    deps = [o for o in rendered[name] if o["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deps} == {"kos-adapter", "kos-processor", "kos-datagen"}
    for d in deps:
        pod = d["spec"]["template"]["spec"]
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 0
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        sc = container(d)["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True, d["metadata"]["name"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]


def test_rbac(rendered):
    objs = rendered["base"]
    sa = {"kind": "ServiceAccount", "name": "kos-adapter", "namespace": NS}
    find(objs, "ServiceAccount", "kos-adapter", NS)

    def bound(kind, role, namespace=None):
        hits = [
            o for o in objs
            if o["kind"] == kind and o["roleRef"]["name"] == role
            and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]
        assert len(hits) == 1, f"one {kind} to {role} expected"
        assert sa in hits[0]["subjects"], hits[0]["subjects"]
        return hits[0]

    assert bound("ClusterRoleBinding", "system:auth-delegator")["roleRef"]["kind"] == "ClusterRole"
    rb = bound("RoleBinding", "extension-apiserver-authentication-reader", "kube-system")
    assert rb["roleRef"]["kind"] == "Role"
    crb = bound("ClusterRoleBinding", "kos-adapter-reader")
    rules = find(objs, "ClusterRole", crb["roleRef"]["name"])["rules"]

    def allowed(group, resource, verb):
        return any(
            group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"] for r in rules
        )

    for verb in ("get", "list", "watch"):
        assert allowed("", "pods", verb)
    for res in ("deployments", "statefulsets"):
        assert allowed("apps", res, "get")
    assert not any("*" in r["verbs"] or "*" in r["resources"] for r in rules)


def test_mapping(rendered):
    cm = find_prefix(rendered["base"], "ConfigMap", "kos-adapter-mapping")
    rules = []
    for line in cm["data"]["mapping.txt"].splitlines():
        line = line.split("#", 1)[0].split()
        if line:
            assert len(line) in (4, 5), line
            rules.append(tuple(line))
    assert (NS, "deployments.apps", "kos-processor", GROUP) in rules
    assert (NS, "pods", "*", GROUP, "GAME-FRAME-RQ,GAME-FRAME-RS") in rules


@pytest.mark.parametrize("name", ["kos-processor", "kos-datagen"])
def test_app_deployments(rendered, name):
    dep = find(rendered["base"], "Deployment", name, NS)
    c = container(dep, name)
    assert c["command"] == [f"/usr/local/bin/{name}"]
    env = {e["name"]: e for e in c.get("env", [])}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # the HPA owns the replicas: an apply must not reset them
    assert "replicas" not in dep["spec"], dep["spec"].get("replicas")
    args = c["args"]
    assert "--http-port=8080" in args
    props = args[args.index("-F") + 1]
    mount = next(m for m in c["volumeMounts"] if props.startswith(m["mountPath"] + "/"))
    vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert vol["secret"]["secretName"] == "kos-kafka"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"


def control_secret(objs):
    """The datagen's PUT /rate token: its --control-token-file is mounted from a Secret that
    the overlay renders (name with the generator's hash); returns that Secret."""
    dep = find(objs, "Deployment", "kos-datagen", NS)
    c = container(dep, "kos-datagen")
    path = next(a.split("=", 1)[1] for a in c["args"] if a.startswith("--control-token-file="))
    mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"] + "/"))
    vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert vol["secret"]["items"] == [{"key": "token", "path": path.rsplit("/", 1)[1]}]
    return find(objs, "Secret", vol["secret"]["secretName"], NS)


@pytest.mark.parametrize("name", ["cloud", "local"])
def test_datagen_control_token_from_a_secret(rendered, name):
    sec = control_secret(rendered[name])
    assert sec["metadata"]["name"].startswith("kos-datagen-control-")  # generated, hashed
    token = base64.b64decode(sec["data"]["token"]).decode().strip()
    assert token
    if name == "cloud":  # gen-certs.sh's random one, never a placeholder
        assert len(token) >= 32 and "PLACEHOLDER" not in token


def test_kafka_secret_templates_hold_placeholders(rendered):
    for name in ("kos-kafka", "kos-adapter-kafka"):
        s = find(rendered["base"], "Secret", name, NS)
        props = dict(
            line.split("=", 1) for line in s["stringData"]["kafka.properties"].splitlines() if "=" in line
        )
        assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanisms"] == "PLAIN"
        assert props["sasl.username"] == "API_KEY" and props["sasl.password"] == "API_SECRET"


def hpas_by_target(objs):
    out = {}
    for o in objs:
        if o["kind"] == "HorizontalPodAutoscaler":
            assert o["apiVersion"] == "autoscaling/v2"
            ref = o["spec"]["scaleTargetRef"]
            key = (ref["kind"], ref["name"])
            assert key not in out, f"two HPAs target {key}"
            out[key] = o
    return out


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_one_hpa_per_deployment(rendered, name):
    hpas = hpas_by_target(rendered[name])
    assert set(hpas) == {("Deployment", "kos-processor"), ("Deployment", "kos-datagen")}
    for (_, target), h in hpas.items():
        find(rendered[name], "Deployment", target, NS)
        assert h["spec"]["scaleTargetRef"]["apiVersion"] == "apps/v1"
        assert (h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) == (1, 4)


@pytest.mark.parametrize("name", ["base", "cloud", "node", "local"])
def test_processor_hpa_like_the_original(rendered, name):
    h = hpas_by_target(rendered[name])[("Deployment", "kos-processor")]
    assert sorted(
        (m["type"], m["pods"]["metric"]["name"], m["pods"]["target"]["type"], m["pods"]["target"]["averageValue"])
        for m in h["spec"]["metrics"]
    ) == [
        ("Pods", "consumer_lag_game_frame_rq", "AverageValue", "100000"),
        ("Pods", "consumer_lag_game_frame_rs", "AverageValue", "100000"),
    ]
    assert "behavior" not in h["spec"]  # as the original: controller defaults


@pytest.mark.parametrize("name", ["base+component", "local-external-lag"])
def test_processor_hpa_external_lag(rendered, name):
    h = hpas_by_target(rendered[name])[("Deployment", "kos-processor")]
    assert h["metadata"]["annotations"]["kos.io/hpa-variant"] == "external-lag"
    (m,) = h["spec"]["metrics"]
    assert m["type"] == "External"
    assert m["external"]["metric"]["name"] == "kafka_consumergroup_lag"
    assert m["external"]["metric"]["selector"]["matchLabels"] == {"group": GROUP}
    assert m["external"]["target"]["type"] == "AverageValue"
    assert int(m["external"]["target"]["averageValue"]) > 0
    b = h["spec"]["behavior"]
    for d in ("scaleUp", "scaleDown"):
        assert b[d]["policies"] and "stabilizationWindowSeconds" in b[d]
    if name == "local-external-lag":
        assert b["scaleDown"]["stabilizationWindowSeconds"] == 0


@pytest.mark.parametrize("name", sorted(RENDERS))
def test_datagen_hpa_on_headroom(rendered, name):
    h = hpas_by_target(rendered[name])[("Deployment", "kos-datagen")]
    (m,) = h["spec"]["metrics"]
    assert m["type"] == "External"
    metric = m["external"]["metric"]
    assert metric["name"] == "kafka_consumergroup_lag_headroom"
    sel = metric["selector"]["matchLabels"]
    assert sel["group"] == GROUP
    budget = int(sel["budget"])
    t = m["external"]["target"]
    # averageValue = budget / maxReplicas: full load (maxReplicas) at zero lag
    assert t["type"] == "AverageValue" and int(t["averageValue"]) * h["spec"]["maxReplicas"] == budget
    b = h["spec"]["behavior"]
    assert b["scaleDown"]["stabilizationWindowSeconds"] == 0  # back off at once
    assert b["scaleUp"]["policies"]


# ---- overlays ----------------------------------------------------------------------------------


def test_cloud_overlay(rendered, tree):
    objs = rendered["cloud"]
    certs = tree / "overlays" / "cloud" / "certs"
    bundle = (certs / "ca-bundle.b64").read_text().strip()
    for api in APISERVICES:
        assert find(objs, "APIService", api)["spec"]["caBundle"] == bundle
    sec = find_prefix(objs, "Secret", "kos-adapter-serving-cert")
    assert sec["type"] == "kubernetes.io/tls"
    assert base64.b64decode(sec["data"]["tls.crt"]) == (certs / "serving.crt").read_bytes()
    assert base64.b64decode(sec["data"]["tls.key"]) == (certs / "serving.key").read_bytes()
    dep = find(objs, "Deployment", "kos-adapter", NS)
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert vols["tls"]["secret"]["secretName"] == sec["metadata"]["name"]  # hash suffix followed
    # real Kafka credentials come from outside (terraform / kubectl), never the templates
    absent(objs, "Secret", "kos-kafka")
    absent(objs, "Secret", "kos-adapter-kafka")
    absent(objs, "ConfigMap", "kos-build-params")
    for d in (o for o in objs if o["kind"] == "Deployment"):
        img = container(d)["image"]
        assert img.startswith(IMAGE + ":") and not img.endswith(":dev"), img
    # the serving certificate verifies against the caBundle, for the name the aggregator uses
    ca = certs / "from-bundle.crt"
    ca.write_bytes(base64.b64decode(bundle))
    run(["openssl", "verify", "-CAfile", ca, certs / "serving.crt"])
    san = run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", certs / "serving.crt"]).stdout
    assert "DNS:kos-adapter.kos.svc" in san


def test_node_overlay_is_the_cloud_overlay_with_a_local_image(rendered):
    """overlays/node: every object of overlays/cloud, the same but for the image (tag dev,
    never pulled)."""
    def key(o):
        return (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
    cloud = {key(o): o for o in rendered["cloud"]}
    node = {key(o): o for o in rendered["node"]}
    assert cloud.keys() == node.keys()
    for k, o in node.items():
        if o["kind"] != "Deployment":
            assert o == cloud[k], k
            continue
        c = container(o)
        assert c["image"] == IMAGE + ":dev" and c["imagePullPolicy"] == "Never", k
        want = json.loads(json.dumps(cloud[k]))
        container(want)["image"], container(want)["imagePullPolicy"] = c["image"], "Never"
        assert o == want, k


def test_cloud_overlay_needs_certs(tmp_path):
    shutil.copytree(MANIFESTS, tmp_path / "manifests", ignore=shutil.ignore_patterns("*.crt", "*.key", "*.b64"))
    p = run([kubectls()[0], "kustomize", tmp_path / "manifests" / "overlays" / "cloud"], check=False)
    assert p.returncode != 0 and "certs/" in p.stderr, p.stderr


def check_local(objs, port, bundle):
    absent(objs, "Deployment", "kos-adapter")
    absent(objs, "PodDisruptionBudget", "kos-adapter")
    svc = find(objs, "Service", "kos-adapter", NS)
    assert svc["spec"] == {"type": "ExternalName", "externalName": "127.0.0.1"}
    for api in APISERVICES:
        s = find(objs, "APIService", api)["spec"]
        assert s["service"] == {"name": "kos-adapter", "namespace": NS, "port": port}
        assert s["caBundle"] == bundle
    for name in ("kos-processor", "kos-datagen"):
        pod = find(objs, "Deployment", name, NS)["spec"]["template"]["spec"]
        assert pod["nodeName"] == "kwok-node-0"
        assert {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    # the ServiceAccount and RBAC stay: a test may run the local adapter with its token
    find(objs, "ServiceAccount", "kos-adapter", NS)
    h = hpas_by_target(objs)[("Deployment", "kos-datagen")]
    assert h["spec"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0


def test_local_overlay_placeholders(rendered):
    check_local(rendered["local"], 6443, PLACEHOLDER_CA)
    check_local(rendered["local-external-lag"], 6443, PLACEHOLDER_CA)


def test_local_overlay_configured(configured_local, yaml_mod):
    ov, bundle = configured_local
    assert "-----BEGIN CERTIFICATE-----" in base64.b64decode(bundle).decode()
    for k in kubectls():
        check_local(kustomize(yaml_mod, ov, k), LOCAL_PORT, bundle)
        check_local(kustomize(yaml_mod, ov.parent / "local-external-lag", k), LOCAL_PORT, bundle)
    # the repository's own params.env is untouched
    assert "ADAPTER_PORT=6443" in (MANIFESTS / "overlays" / "local" / "params.env").read_text()


def test_local_configure_accepts_pem_and_rejects_garbage(tree, tmp_path, yaml_mod):
    certs = tree / "overlays" / "cloud" / "certs"
    ov = Path(run([MANIFESTS / "overlays" / "local" / "configure.sh", tmp_path / "a", 1, certs / "ca.crt"]).stdout.strip())
    bundle = (certs / "ca-bundle.b64").read_text().strip()
    check_local(kustomize(yaml_mod, ov), 1, bundle)
    script = MANIFESTS / "overlays" / "local" / "configure.sh"
    for args in ((0, certs / "ca.crt"), (65536, certs / "ca.crt"), ("x", certs / "ca.crt"),
                 (443, certs / "serving.key"), (443, tmp_path / "missing")):
        p = run([script, tmp_path / "b", *args], check=False)
        assert p.returncode == 2, (args, p.stdout, p.stderr)


# ---- terraform -------------------------------------------------------------------------------

HCL_DUMP = r"""
import hcl2, json, sys
out = {}
for f in sys.argv[1:]:
    with open(f) as fh:
        out[f] = hcl2.load(fh)
json.dump(out, sys.stdout)
"""


def unq(x):
    """python-hcl2 >= 5 keeps the quotes of string literals and block labels; drop them and
    the block markers."""
    if isinstance(x, str):
        return x[1:-1] if len(x) >= 2 and x[0] == x[-1] == '"' else x
    if isinstance(x, list):
        return [unq(i) for i in x]
    if isinstance(x, dict):
        return {unq(k): unq(v) for k, v in x.items() if not k.startswith("__")}
    return x


@pytest.fixture(scope="module")
def tf_files():
    files = sorted(TERRAFORM.glob("*.tf"))
    assert {f.name for f in files} >= {"versions.tf", "variables.tf", "outputs.tf"}, files
    return files


@pytest.fixture(scope="module")
def hcl(tf_tools, tf_files):
    """Every .tf parsed by python-hcl2: {kind: {name/type: ...}} merged over the files."""
    p = run([tf_tools / "venv" / "bin" / "python", "-c", HCL_DUMP, *tf_files])
    docs = unq(json.loads(p.stdout))
    merged = {"variable": {}, "output": {}, "locals": {}, "resource": {}, "data": {},
              "provider": {}, "terraform": []}
    for doc in docs.values():
        for kind in ("variable", "output"):
            for b in doc.get(kind, []):
                for name, body in b.items():
                    assert name not in merged[kind], f"{kind} {name} declared twice"
                    merged[kind][name] = body
        for b in doc.get("locals", []):
            for name, v in b.items():
                assert name not in merged["locals"], f"local {name} declared twice"
                merged["locals"][name] = v
        for kind in ("resource", "data"):
            for b in doc.get(kind, []):
                for rtype, named in b.items():
                    for name, body in named.items():
                        key = f"{rtype}.{name}"
                        assert key not in merged[kind], f"{kind} {key} declared twice"
                        merged[kind][key] = body
        for b in doc.get("provider", []):
            merged["provider"].update(b)
        merged["terraform"] += doc.get("terraform", [])
    return merged


def test_terraform_fmt(tf_tools):
    env = dict(os.environ, CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=os.devnull, TF_IN_AUTOMATION="1")
    tf = tf_tools / "bin" / "terraform"
    assert "v1.5.7" in run([tf, "version"], env=env).stdout
    p = run([tf, "fmt", "-check", "-recursive", "-diff", TERRAFORM], check=False, env=env)
    assert p.returncode == 0, f"terraform fmt wants changes (run terraform fmt -recursive terraform/):\n{p.stdout}{p.stderr}"


def test_terraform_variables_documented(hcl):
    assert hcl["variable"], "no variables"
    for name, v in hcl["variable"].items():
        assert isinstance(v.get("description"), str) and len(v["description"]) > 15, f"variable {name}: no description"
        assert v.get("type"), f"variable {name}: no type"
    for name, o in hcl["output"].items():
        assert o.get("description"), f"output {name}: no description"


def test_terraform_references_resolve(hcl, tf_files):
    text = "\n".join(re.sub(r"(?m)^\s*#.*$", "", f.read_text()) for f in tf_files)
    used_vars = set(re.findall(r"\bvar\.([A-Za-z_][\w-]*)", text))
    assert used_vars <= set(hcl["variable"]), f"undeclared variables: {used_vars - set(hcl['variable'])}"
    assert set(hcl["variable"]) <= used_vars, f"unused variables: {set(hcl['variable']) - used_vars}"
    used_locals = set(re.findall(r"\blocal\.([A-Za-z_][\w-]*)", text))
    assert used_locals <= set(hcl["locals"]), f"undeclared locals: {used_locals - set(hcl['locals'])}"
    declared = set(hcl["resource"])
    providers = {"google", "confluent", "kubernetes", "kustomization"}
    for rtype, name in re.findall(r"(?<![\w.])((?:%s)_[a-z0-9_]+)\.([a-z0-9_]+)\b" % "|".join(providers), text):
        if f"{rtype}.{name}" in declared:
            continue
        # `resource "type" "name"` lines and data sources (data.type.name) are not references
        assert re.search(rf'(resource|data)\s+"{rtype}"|data\.{rtype}\.{name}', text), f"unknown resource {rtype}.{name}"
    for ref in re.findall(r"\bdata\.([a-z0-9_]+\.[a-z0-9_]+)", text):
        assert ref in hcl["data"], f"unknown data source {ref}"
    for f in re.findall(r'templatefile\("\$\{path\.module\}/([^"]+)"', text):
        assert (TERRAFORM / f).is_file(), f


def test_terraform_providers_pinned(hcl):
    req = {}
    for t in hcl["terraform"]:
        assert t.get("required_version"), "required_version missing"
        for rp in t.get("required_providers", []):
            req.update(rp)
    used = {k.split("_", 1)[0] for k in list(hcl["resource"]) + list(hcl["data"])} | set(hcl["provider"])
    assert used <= set(req), f"providers without a pin: {used - set(req)}"
    for name, spec in req.items():
        assert re.match(r"^[a-z0-9-]+/[a-z0-9-]+$", spec["source"]), spec
        assert re.search(r"\d", spec.get("version", "")), f"provider {name} has no version constraint"
    assert req["confluent"]["source"] == "confluentinc/confluent"
    assert req["google"]["source"] == "hashicorp/google"
    assert req["kubernetes"]["source"] == "hashicorp/kubernetes"


def test_terraform_input_topics_co_partitioned(hcl):
    topics = {
        body["topic_name"]: body for key, body in hcl["resource"].items()
        if key.startswith("confluent_kafka_topic.")
    }
    assert set(topics) == {"GAME-FRAME-RQ", "GAME-FRAME-RS", "SESSIONS"}, sorted(topics)
    rq, rs = topics["GAME-FRAME-RQ"]["partitions_count"], topics["GAME-FRAME-RS"]["partitions_count"]
    m = re.fullmatch(r"\$\{var\.([\w-]+)\}", rq)
    assert m and rq == rs, f"input topics must share one partition-count variable: {rq} vs {rs}"
    var = hcl["variable"][m.group(1)]
    assert var["type"] in ("number", "${number}") and var["default"] >= 1
    assert "co-partition" in var["description"]


def test_terraform_like_the_original(hcl):
    v = hcl["variable"]
    assert v["gcp_zone"]["default"] == "europe-west1-b"
    assert v["node_count"]["default"] == 4
    cluster = hcl["resource"]["google_container_cluster.kos"]
    assert cluster["location"] == "${var.gcp_zone}"  # zonal
    pool = hcl["resource"]["google_container_node_pool.primary"]
    assert pool["node_count"] == "${var.node_count}"
    assert pool["node_config"][0]["machine_type"] == "${var.machine_type}"
    kc = hcl["resource"]["confluent_kafka_cluster.kos"]
    assert "basic" in kc and kc["cloud"] == "GCP"
    assert "confluent_environment.kos" in hcl["resource"]
    keys = [k for k in hcl["resource"] if k.startswith("confluent_api_key.")]
    sas = [k for k in hcl["resource"] if k.startswith("confluent_service_account.")]
    assert keys and sas


def test_terraform_wired_to_manifests(hcl, rendered):
    tpl = (TERRAFORM / "kafka.properties.tftpl").read_text()
    assert "security.protocol=SASL_SSL" in tpl and "sasl.mechanisms=PLAIN" in tpl
    secret = hcl["resource"]["kubernetes_secret_v1.kafka"]
    names = set(secret["for_each"])
    # exactly the Secrets the cloud overlay's Deployments mount but does not render
    mounted = {
        v["secret"]["secretName"]
        for d in rendered["cloud"] if d["kind"] == "Deployment"
        for v in d["spec"]["template"]["spec"]["volumes"] if "secret" in v
    }
    rendered_secrets = {o["metadata"]["name"] for o in rendered["cloud"] if o["kind"] == "Secret"}
    assert names == mounted - rendered_secrets, (names, mounted, rendered_secrets)
    assert "kafka.properties" in json.dumps(secret["data"])
    assert secret["metadata"][0]["namespace"] == NS

    overlay = hcl["data"]["kustomization_overlay.kos"]
    locals_ = hcl["locals"]
    assert locals_["manifests_dir"] == "${path.module}/../manifests"
    assert (TERRAFORM / ".." / "manifests" / "overlays" / "cloud" / "kustomization.yaml").is_file()
    assert overlay["resources"] == ["${local.cloud_overlay}"]
    assert "components/hpa-external-lag" in overlay["components"]
    assert (MANIFESTS / "components" / "hpa-external-lag" / "kustomization.yaml").is_file()
    assert overlay["images"][0]["name"] == IMAGE
    for prio in ("p0", "p1"):
        assert f"kustomization_resource.{prio}" in hcl["resource"]
