"""A real Kubernetes node for kos tests (tests/e2e/test_node.py, tests/bench/bench_node.py, the
demo's --cluster mode), driven through tests/harness/node.sh. Standard library only.

The caller runs inside `tests/harness/node.sh run -- CMD` (a network namespace of its own with
the node address 10.254.0.1, and a private mount namespace); that wrapper sets the environment
kos_k8s.ControlPlane and kos_harness.KafkaBroker read, so they start there unchanged:

    with kos_k8s.ControlPlane(tmp / "k8s") as cp, kh.KafkaBroker(tmp / "kafka") as kafka, \\
            kos_node.Node(cp, images=[kos_node.build_image()]) as node:
        cp.kubectl("apply", "-k", overlay)

What runs: containerd (CRI, runc, overlayfs, the CNI ptp plugin: one veth and one address of
10.254.1.0/24 per pod), the kubelet of node "kos-node" (cgroupfs, cgroup v1, no QoS cgroups),
and kube-scheduler in the control plane (KOS_K8S_NODE=1). Pods reach the apiserver through
their in-cluster configuration (the "kubernetes" Service 10.254.128.1:443 is an address of the
namespace) and Kafka at 10.254.0.1. Images: scripts/build-image.sh, imported, never pulled.
"""

import json
import os
import subprocess
from pathlib import Path

from kos_k8s import kubectl_path

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_SH = REPO_ROOT / "tests" / "harness" / "node.sh"
BUILD_IMAGE = REPO_ROOT / "scripts" / "build-image.sh"
NODE_NAME = "kos-node"
IMAGE = "ghcr.io/kos-project/kos:dev"
START_TIMEOUT_S = 240
IMAGE_TIMEOUT_S = 1200


class NodeError(RuntimeError):
    pass


def _run(cmd, timeout, env=None):
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        raise NodeError(f"timed out after {timeout}s: {' '.join(cmd)}\n{e.stderr or ''}") from None
    if p.returncode != 0:
        raise NodeError(f"command failed (exit {p.returncode}): {' '.join(cmd)}\n"
                        f"--- stdout ---\n{p.stdout}--- stderr ---\n{p.stderr}")
    return p.stdout


def inside():
    """True inside `node.sh run` (the node's network namespace)."""
    return bool(os.environ.get("KOS_NODE_NETNS") and os.environ.get("KOS_NODE_RUN"))


def require_inside():
    if not inside():
        raise NodeError(f"not inside the node's network namespace: run this through "
                        f"`{NODE_SH} run -- <command>`")


def node_ip():
    return os.environ.get("KOS_NODE_IP", "10.254.0.1")


def build_image(*tags, out=None):
    """Builds the kos image (scripts/build-image.sh, cached and incremental) and returns the
    path of its archive (OUT, default $KOS_CACHE/image/kos.tar). TAGS default to
    ghcr.io/kos-project/kos:dev."""
    args = [BUILD_IMAGE, "--print"]
    for t in tags:
        args += ["--tag", t]
    if out is not None:
        args += ["--out", out]
    return Path(_run(args, IMAGE_TIMEOUT_S).strip().splitlines()[-1])


def build_pause():
    return Path(_run([BUILD_IMAGE, "--pause", "--print"], 300).strip().splitlines()[-1])


class Node:
    """containerd + kubelet of node "kos-node", joined to CP (a kos_k8s.ControlPlane started
    inside `node.sh run`). IMAGES: archives imported after containerd starts. As a context
    manager it starts on entry and always stops on exit (kubelet, every container, containerd,
    their mounts). A watcher stops the node if this Python process dies."""

    def __init__(self, cp, images=()):
        require_inside()
        self.cp = cp
        self.images = [Path(i) for i in images]
        self.run_dir = Path(os.environ["KOS_NODE_RUN"])

    def _env(self):
        return dict(os.environ, KOS_NODE_OWNER_PID=str(os.getpid()))

    def log_path(self, name):
        """containerd.log or kubelet.log."""
        return self.run_dir / f"{name}.log"

    def start(self):
        build_pause()
        _run([NODE_SH, "start", self.cp.kubeconfig], START_TIMEOUT_S, env=self._env())
        if self.images:
            self.import_images(*self.images)
        return self

    def import_images(self, *archives):
        _run([NODE_SH, "import", *archives], 300, env=self._env())

    def ctr(self, *args, timeout=60):
        """ctr on the node's containerd (namespace k8s.io); returns stdout."""
        return _run([NODE_SH, "ctr", *args], timeout, env=self._env())

    def stop(self):
        _run([NODE_SH, "stop"], 120, env=self._env())

    def kill_container(self, namespace, pod, container):
        """SIGKILL to CONTAINER of POD (an OOM kill or a crash, as the kubelet sees it)."""
        doc = json.loads(_run([kubectl_path(), f"--kubeconfig={self.cp.kubeconfig}", "get", "pod",
                               "-n", namespace, pod, "-o", "json"], 60))
        ids = [c["containerID"].split("://", 1)[1] for c in doc["status"]["containerStatuses"]
               if c["name"] == container and c.get("containerID")]
        if not ids:
            raise NodeError(f"{namespace}/{pod} has no running container {container}")
        self.ctr("tasks", "kill", "-s", "SIGKILL", ids[0])

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self._stop_quietly()
            raise

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self._stop_quietly()

    def _stop_quietly(self):
        try:
            self.stop()
        except Exception as e:  # noqa: BLE001 - never mask the test's own failure
            print(f"kos_node: stopping the node failed: {e}")


# --- kos deployed on the node, as a user does it ---------------------------------------------
NS = "kos"
GROUP = "KINGOFSCALING-APP"
APISERVICES = ("v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io",
               "v1beta1.external.metrics.k8s.io")
EXTERNAL_LAG = (f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{NS}/kafka_consumergroup_lag"
                f"?labelSelector=group%3D{GROUP}")


def prepare_manifests(workdir):
    """A copy of the repository's manifests/ in WORKDIR with the serving certificates generated
    into overlays/cloud/certs (what the cloud overlay's instructions say); returns the copy's
    path. The repository itself is never written to."""
    import shutil
    dest = Path(workdir) / "manifests"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(REPO_ROOT / "manifests", dest)
    _run([REPO_ROOT / "certs" / "gen-certs.sh", dest / "overlays" / "cloud" / "certs",
          "--service", "kos-adapter", "--namespace", NS], 120)
    return dest


def rotate_serving_cert(manifests):
    """certs/gen-certs.sh --rotate-serving on the copy: a new serving certificate, same CA."""
    _run([REPO_ROOT / "certs" / "gen-certs.sh", Path(manifests) / "overlays" / "cloud" / "certs",
          "--service", "kos-adapter", "--namespace", NS, "--rotate-serving"], 120)


def user_overlay(path, resources, components=(), patches=()):
    """Writes a kustomization at PATH (a user's own overlay on ours) and returns PATH.
    PATCHES: (target dict, JSON-patch YAML text) pairs."""
    import json
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    rel = [os.path.relpath(r, path) for r in resources]  # kustomize refuses absolute paths
    doc = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
           "resources": rel}
    if components:
        doc["components"] = [os.path.relpath(c, path) for c in components]
    if patches:
        doc["patches"] = [{"target": t, "patch": p} for t, p in patches]
    (path / "kustomization.yaml").write_text(json.dumps(doc, indent=1))
    return path


def create_kafka_secrets(cp, bootstrap):
    """The two Kafka credential Secrets the cloud overlay expects, created with kubectl as its
    instructions say (PLAINTEXT to the test broker)."""
    import tempfile
    cp.kubectl("create", "namespace", NS, check=False)
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "kafka.properties"
        f.write_text(f"bootstrap.servers={bootstrap}\nsecurity.protocol=PLAINTEXT\n")
        for name in ("kos-kafka", "kos-adapter-kafka"):
            cp.kubectl("-n", NS, "create", "secret", "generic", name,
                       f"--from-file=kafka.properties={f}")


def pods(cp, app):
    """Pods of app.kubernetes.io/name=APP in namespace kos, not being deleted: [(name, phase,
    ready, ip, restarts)]."""
    out = []
    for p in cp.kubectl_json("get", "pods", "-n", NS, "-l",
                             f"app.kubernetes.io/name={app}")["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        st = p.get("status", {})
        ready = any(c["type"] == "Ready" and c["status"] == "True"
                    for c in st.get("conditions", []))
        restarts = sum(c.get("restartCount", 0) for c in st.get("containerStatuses", []))
        out.append((p["metadata"]["name"], st.get("phase"), ready, st.get("podIP"), restarts))
    return sorted(out)


def http(method, ip, port, path, body=None, timeout=5, headers=None):
    """One plain HTTP request to a pod (its IP is routed in the namespace); (status, text)."""
    import http.client
    c = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def datagen_control_token(cp):
    """The bearer token kos-datagen's PUT /rate needs: read from the Secret its Deployment
    mounts (overlays/cloud generates it from certs/datagen-control.token), as an operator would."""
    import base64
    dep = cp.kubectl_json("get", "deployment", "-n", NS, "kos-datagen")
    secret = next(v["secret"]["secretName"] for v in dep["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "control")
    data = cp.kubectl_json("get", "secret", "-n", NS, secret)["data"]["token"]
    return base64.b64decode(data).decode().strip()


def set_datagen_rate(cp, rate, token=None):
    """PUT /rate on every running kos-datagen pod (frames/s per pod); returns the pods reached.
    TOKEN: the control token (default: read from the cluster, two kubectl calls)."""
    done = []
    auth = {"Authorization": f"Bearer {token or datagen_control_token(cp)}"}
    for name, phase, ready, ip, _ in pods(cp, "kos-datagen"):
        if phase == "Running" and ip:
            try:
                st, text = http("PUT", ip, 8080, "/rate", str(rate), headers=auth)
                if st in (401, 403):  # a wrong token is a test bug, not a pod starting up
                    raise AssertionError(f"PUT /rate on {name}: {st} {text}")
                if st == 200:
                    done.append(name)
            except OSError:
                pass
    return done


# A user's overlay on manifests/overlays/node for tests and the demo: targets sized for seconds of
# load (the base's 100000 messages per pod would need minutes), HPA windows of seconds.
FAST_BEHAVIOR = """- op: replace
  path: /spec/behavior
  value:
    scaleUp: {stabilizationWindowSeconds: 0, selectPolicy: Max,
              policies: [{type: Pods, value: 4, periodSeconds: 1}]}
    scaleDown: {stabilizationWindowSeconds: 0, selectPolicy: Max,
                policies: [{type: Percent, value: 100, periodSeconds: 1}]}
"""


# The processor: up at once, down after 30 s of lower recommendations (new pods start with no
# partitions, so the per-pod average dips while they join: without a window the HPA would undo
# its own scale-up before the pods are Ready).
PROCESSOR_BEHAVIOR = """- op: add
  path: /spec/behavior
  value:
    scaleUp: {stabilizationWindowSeconds: 0, selectPolicy: Max,
              policies: [{type: Pods, value: 4, periodSeconds: 1}]}
    scaleDown: {stabilizationWindowSeconds: 30, selectPolicy: Max,
                policies: [{type: Percent, value: 100, periodSeconds: 1}]}
"""


def _hpa(name):
    return {"group": "autoscaling", "version": "v2", "kind": "HorizontalPodAutoscaler",
            "name": name, "namespace": NS}


def overlay_for(manifests, path, variant="pods", target=3000, datagen_rate=100,
                datagen_budget=4000000):
    """A user overlay at PATH on MANIFESTS/overlays/node: the processor HPA on the Pods metrics
    (variant "pods", TARGET messages per pod and topic) or on External lag (variant "external",
    the component, 2 x TARGET per pod), fast behaviors, generators at DATAGEN_RATE frames/s each
    and a headroom budget of DATAGEN_BUDGET (target budget / 4). Returns PATH."""
    m = Path(manifests)
    if variant == "pods":
        proc = (f'- op: replace\n  path: /spec/metrics/0/pods/target/averageValue\n'
                f'  value: "{target}"\n- op: replace\n'
                f'  path: /spec/metrics/1/pods/target/averageValue\n  value: "{target}"\n'
                + PROCESSOR_BEHAVIOR)
        components = ()
    else:
        proc = (f'- op: replace\n  path: /spec/metrics/0/external/target/averageValue\n'
                f'  value: "{2 * target}"\n' + PROCESSOR_BEHAVIOR)
        components = (m / "components" / "hpa-external-lag",)
    datagen = (f'- op: replace\n  path: /spec/metrics/0/external/metric/selector/matchLabels/budget\n'
               f'  value: "{datagen_budget}"\n- op: replace\n'
               f'  path: /spec/metrics/0/external/target/averageValue\n'
               f'  value: "{datagen_budget // 4}"\n' + FAST_BEHAVIOR)
    rate = (f"- op: replace\n  path: /spec/template/spec/containers/0/args/2\n"
            f"  value: --rate={datagen_rate}\n")
    return user_overlay(path, [m / "overlays" / "node"], components, [
        (_hpa("kos-processor"), proc), (_hpa("kos-datagen"), datagen),
        ({"group": "apps", "version": "v1", "kind": "Deployment", "name": "kos-datagen"}, rate)])


def group_members(bootstrap, group=GROUP, topic="GAME-FRAME-RQ"):
    """{client id: partitions of TOPIC it holds} (kafka-consumer-groups --describe). kos-processor
    subscribes to the requests topic only (it takes the responses partition itself)."""
    import kos_harness as kh
    members = {}
    for r in kh.cgc_describe_group(bootstrap, group):
        if r["client_id"] and r["topic"] == topic:
            members[r["client_id"]] = members.get(r["client_id"], 0) + 1
    return members


def create_topics(bootstrap, topics=("GAME-FRAME-RQ", "GAME-FRAME-RS"), partitions=4):
    """The input topics, co-partitioned, before any pod starts (kafka-topics)."""
    import kos_harness as kh
    for t in topics:
        kh.kafka_sh("topics", "--bootstrap-server", bootstrap, "--create", "--if-not-exists",
                    "--topic", t, "--partitions", str(partitions), "--replication-factor", "1")


class AvailabilityProbe:
    """Polls what the HPA controller depends on, every INTERVAL seconds in a thread: the
    External lag metric through the aggregator (kubectl get --raw) and the three APIServices'
    Available condition. failures: [(time, what)]."""

    def __init__(self, cp, interval=0.5):
        import threading
        self.cp, self.interval = cp, interval
        self.failures, self.checks = [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        import json
        import time
        while not self._stop.is_set():
            t = time.time()
            r = self.cp.kubectl("get", "--raw", EXTERNAL_LAG, check=False, timeout=20)
            if r.returncode != 0:
                self.failures.append((t, f"get --raw: {r.stderr.strip()[:200]}"))
            else:
                try:
                    json.loads(r.stdout)["items"][0]["value"]
                except (ValueError, KeyError, IndexError) as e:
                    self.failures.append((t, f"bad answer {r.stdout[:200]!r}: {e!r}"))
            r = self.cp.kubectl("get", "apiservices", "-o", "json", check=False, timeout=20)
            if r.returncode == 0:
                for a in json.loads(r.stdout)["items"]:
                    if a["metadata"]["name"] not in APISERVICES:
                        continue
                    cond = {c["type"]: c for c in a.get("status", {}).get("conditions", [])}
                    av = cond.get("Available", {})
                    if av.get("status") != "True":
                        self.failures.append((t, f"{a['metadata']['name']} Available="
                                                 f"{av.get('status')}: {av.get('message')}"))
            self.checks += 1
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
