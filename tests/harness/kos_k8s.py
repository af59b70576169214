"""A real Kubernetes control plane for kos end-to-end tests (tests/e2e, tests/bench), driven
through tests/harness/k8s.sh. Standard library only.

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
    import kos_k8s

    def test_x(tmp_path):
        with kos_k8s.ControlPlane(tmp_path / "k8s") as cp:
            cp.kubectl("apply", "-f", "-", input=MANIFEST)
            print(cp.kubectl("get", "pods", "-o", "json"))

What runs (all bound to 127.0.0.1, logs in WORKDIR/<name>.log):
  * etcd (data in WORKDIR/etcd, --unsafe-no-fsync);
  * kube-apiserver with RBAC, client-cert auth against the cluster CA (cp.client_ca), the
    aggregation layer configured (front-proxy CA cp.front_proxy_ca, client cert
    CN=front-proxy-client, X-Remote-User/-Group/-Extra- headers), --enable-aggregator-routing=false
    (an APIService may point at an ExternalName Service "127.0.0.1" + spec.service.port),
    ServiceAccount admission off, no Endpoints reconciler;
  * kube-controller-manager with deployment, replicaset, horizontal-pod-autoscaler and
    garbage-collector controllers, HPA sync period `hpa_sync_period` (default 2s), downscale
    stabilization 0s, initial readiness delay 0s, admin credentials for every controller;
  * kwok as the kubelet of node "kwok-node-0" (pods with spec.nodeName: kwok-node-0 become
    Running + Ready within a second; there is no scheduler, so set nodeName).
The admin kubeconfig (client cert CN=admin, O=system:masters) is cp.kubeconfig; a bearer token
for the same user is cp.admin_token. A watcher stops everything if this Python process dies.

Inside `tests/harness/node.sh run` (KOS_K8S_NODE=1 in the environment) there is no kwok: a
kube-scheduler runs instead, ServiceAccount admission and the controllers real pods need are on,
the aggregator routes to endpoints, and tests/harness/kos_node.py adds a real kubelet.
"""

import json
import os
import subprocess
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S_SH = REPO_ROOT / "tests" / "harness" / "k8s.sh"
INSTALL_SH = REPO_ROOT / "scripts" / "install-k8s.sh"
VERSIONS_ENV = REPO_ROOT / "scripts" / "k8s-versions.env"

START_TIMEOUT_S = 300
KUBECTL_TIMEOUT_S = 120


class CommandError(RuntimeError):
    """A command exited non-zero (or timed out); carries its output."""

    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr
        super().__init__(
            f"command failed (exit {returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        )


def versions():
    """The pinned versions from scripts/k8s-versions.env, e.g. {"KUBE_VERSION": "v1.37.2", ...}."""
    out = {}
    for line in VERSIONS_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip("\"'")
    return out


def bin_dir():
    """Directory of the binaries built by scripts/install-k8s.sh ($KOS_K8S_BIN overrides)."""
    if os.environ.get("KOS_K8S_BIN"):
        return Path(os.environ["KOS_K8S_BIN"])
    cache = Path(os.environ.get("KOS_CACHE") or Path.home() / ".cache" / "kos")
    return cache / f"k8s-{versions()['KUBE_VERSION']}" / "bin"


def binary(name):
    """Path of a built binary (kube-apiserver, etcd, kwok, vegeta, test-adapter, ...); raises
    FileNotFoundError naming install-k8s.sh if it is missing."""
    p = bin_dir() / name
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(f"{p} missing: run {INSTALL_SH}")
    return p


def kubectl_path():
    """The kubectl built with the control plane if present, else the one on the machine."""
    p = bin_dir() / "kubectl"
    return p if os.access(p, os.X_OK) else Path("/usr/bin/kubectl")


def _run(cmd, timeout, env=None, input=None):
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(
            cmd,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        raise CommandError(cmd, "timeout", out, err) from None
    if p.returncode != 0:
        raise CommandError(cmd, p.returncode, p.stdout, p.stderr)
    return p


def _alive(pid):
    """True if PID runs and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(pred, timeout=60.0, interval=0.25, what="condition"):
    """Polls PRED until it returns something truthy, which is returned. Exceptions count as
    "not yet"; the last one is named in the AssertionError raised after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:g}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kwok with all state in WORKDIR.

    As a context manager it starts on entry and always stops on exit (reverse order, SIGKILL
    for anything that ignores SIGTERM). start() raises CommandError with the failing
    component's log tail; stop() is idempotent.
    """

    COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kwok", "kube-scheduler")

    def __init__(self, workdir, hpa_sync_period="2s", kcm_args=(), apiserver_args=()):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.hpa_sync_period = hpa_sync_period
        self.kcm_args = list(kcm_args)
        self.apiserver_args = list(apiserver_args)
        self.start_seconds = None  # wall time of the last start()
        self._restarted = []  # Popen objects of components restart_component() started

    # --- paths and addresses ---
    @property
    def kubeconfig(self):
        """Path (str) of the admin kubeconfig (embedded client cert, system:masters)."""
        return str(self.workdir / "admin.kubeconfig")

    @property
    def apiserver_url(self):
        """https://127.0.0.1:PORT"""
        f = self.workdir / "apiserver-url"
        if not f.exists():
            raise RuntimeError(f"control plane in {self.workdir} was never started")
        return f.read_text().strip()

    @property
    def pki(self):
        """Directory with ca.crt/key, apiserver.crt/key, admin.crt/key, front-proxy-ca.crt/key,
        front-proxy-client.crt/key, sa.key/pub, admin.token."""
        return self.workdir / "pki"

    @property
    def client_ca(self):
        """Cluster CA (str path): signs the apiserver serving cert and the admin client cert;
        kube-apiserver's --client-ca-file."""
        return str(self.pki / "ca.crt")

    @property
    def front_proxy_ca(self):
        """Front-proxy CA (str path): kube-apiserver's --requestheader-client-ca-file; it signs
        the client cert (CN=front-proxy-client) the aggregator presents to aggregated servers."""
        return str(self.pki / "front-proxy-ca.crt")

    @property
    def admin_token(self):
        """Static bearer token of user admin (group system:masters)."""
        return (self.pki / "admin.token").read_text().strip()

    @property
    def bin_dir(self):
        return bin_dir()

    def log_path(self, component):
        return self.workdir / f"{component}.log"

    def log_tail(self, component, lines=40):
        try:
            text = self.log_path(component).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "".join(text.splitlines(True)[-lines:])

    # --- lifecycle ---
    def _env(self):
        env = dict(os.environ, KOS_K8S_OWNER_PID=str(os.getpid()))
        env["KOS_K8S_HPA_SYNC_PERIOD"] = str(self.hpa_sync_period)
        env["KOS_K8S_KCM_ARGS"] = " ".join(self.kcm_args)
        env["KOS_K8S_APISERVER_ARGS"] = " ".join(self.apiserver_args)
        return env

    def start(self):
        t0 = time.monotonic()
        try:
            _run([K8S_SH, "start", self.workdir], START_TIMEOUT_S, env=self._env())
        except CommandError as e:
            # k8s.sh prints the failing component's log tail itself; if it could not (killed
            # by the timeout), add the tails of all logs.
            tails = ""
            if "--- last lines of" not in e.stderr:
                tails = "".join(
                    f"\n--- tail of {self.log_path(c)} ---\n{self.log_tail(c, 15)}"
                    for c in self.COMPONENTS
                    if self.log_path(c).exists()
                )
            raise CommandError(e.cmd, e.returncode, e.stdout, e.stderr + tails) from None
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        _run([K8S_SH, "stop", self.workdir], 120)

    def status(self):
        """{component: True/False (running)}."""
        p = subprocess.run(
            [str(K8S_SH), "status", str(self.workdir)], capture_output=True, text=True, timeout=30
        )
        return {
            line.split()[0]: line.split()[1] == "running"
            for line in p.stdout.splitlines()
            if len(line.split()) >= 2
        }

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._stop_quietly()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self._stop_quietly()  # never mask the test's own failure

    def _stop_quietly(self):
        try:
            self.stop()
        except Exception as e:  # noqa: BLE001
            print(f"kos_k8s: stopping control plane in {self.workdir} failed: {e}")

    def restart_component(self, name, timeout=120, grace_s=15):
        """Stops one running component (SIGTERM, SIGKILL after grace_s) and starts it again with
        the very command line k8s.sh gave it, logging to the same file; its pid file is
        updated, so stop() and the owner watcher still find it. Returns (seconds it was down,
        seconds until it was ready again) — kube-apiserver ready = /readyz 200, the others =
        running. For fault tests: a kube-apiserver restart takes the aggregator down with it."""
        pid_file = self.workdir / "pids" / name
        pid = int(pid_file.read_text())
        argv = [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
        if not argv or not argv[0].decode().endswith("/" + name):
            raise RuntimeError(f"pid {pid} of {pid_file} is not {name}: {argv[:1]}")
        t0 = time.monotonic()
        os.kill(pid, 15)
        deadline = time.monotonic() + grace_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, 9)
            while _alive(pid):
                time.sleep(0.05)
        t_down = time.monotonic()
        with open(self.log_path(name), "ab") as log:
            log.write(f"===== kos_k8s restart {name} {time.strftime('%FT%T')} =====\n".encode())
            log.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self._restarted.append(proc)  # keeps it reaped when it exits
        pid_file.write_text(f"{proc.pid}\n")
        if name == "kube-apiserver":
            def ready():
                r = subprocess.run(["curl", "-sf", "--max-time", "2", "--cacert", self.client_ca,
                                    f"{self.apiserver_url}/readyz"], capture_output=True)
                return r.returncode == 0
            wait_until(ready, timeout, 0.2, "kube-apiserver /readyz after its restart")
        elif proc.poll() is not None:
            raise RuntimeError(f"{name} exited at once after its restart: {self.log_tail(name)}")
        t_ready = time.monotonic()
        return t_down - t0, t_ready - t0

    # --- clients ---
    def kubectl(self, *args, input=None, timeout=KUBECTL_TIMEOUT_S, check=True):
        """Runs kubectl --kubeconfig=<admin> ARGS (INPUT as stdin text); returns stdout.
        Raises CommandError on a non-zero exit unless check=False (then returns the
        CompletedProcess)."""
        cmd = [kubectl_path(), f"--kubeconfig={self.kubeconfig}", *args]
        if not check:
            return subprocess.run(
                [str(c) for c in cmd],
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        return _run(cmd, timeout, input=input).stdout

    def kubectl_json(self, *args, **kw):
        """kubectl ARGS -o json, decoded."""
        return json.loads(self.kubectl(*args, "-o", "json", **kw))

    def apply(self, manifest):
        """kubectl apply -f - with MANIFEST (YAML/JSON text, or a dict/list encoded as JSON)."""
        if not isinstance(manifest, str):
            items = manifest if isinstance(manifest, list) else [manifest]
            manifest = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        return self.kubectl("apply", "-f", "-", input=manifest)

    # --- waits ---
    def wait_apiservice_available(self, name, timeout=60):
        """Waits until APIService NAME has condition Available=True; on timeout the assertion
        names the last condition seen."""
        last = {}

        def ok():
            obj = self.kubectl_json("get", "apiservice", name)
            for c in obj.get("status", {}).get("conditions", []):
                if c.get("type") == "Available":
                    last.update(c)
                    return c.get("status") == "True"
            return False

        try:
            return wait_until(ok, timeout, 0.5, f"APIService {name} Available")
        except AssertionError as e:
            raise AssertionError(f"{e}; last Available condition: {last}") from None

    def ready_pods(self, namespace="default", selector=None):
        """Names of pods that are Running with condition Ready=True (deleted ones excluded)."""
        args = ["get", "pods", "-n", namespace]
        if selector:
            args += ["-l", selector]
        names = []
        for p in self.kubectl_json(*args)["items"]:
            if p["metadata"].get("deletionTimestamp"):
                continue
            st = p.get("status", {})
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in st.get("conditions", [])
            )
            if st.get("phase") == "Running" and ready:
                names.append(p["metadata"]["name"])
        return names

    def wait_ready_pods(self, count, namespace="default", selector=None, timeout=60):
        """Waits until exactly COUNT pods matching SELECTOR are Running+Ready; returns names."""
        def ok():
            names = self.ready_pods(namespace, selector)
            return (names,) if len(names) == count else None  # a tuple: truthy even for []

        return wait_until(ok, timeout, 0.5, f"{count} ready pods ({namespace}, {selector})")[0]
