"""KEDA (operator + metrics apiserver) as local processes against the test control plane, for the
side-by-side benchmark only (tests/bench/bench_keda.py): never used by the default test suite.
Standard library only.

    kdir = kos_keda.install()                      # scripts/install-keda.sh (idempotent)
    kos_keda.apply_crds(cp)                        # the module's config/crd/bases
    with kos_keda.Keda(cp, tmp / "keda") as keda:  # operator, then metrics apiserver
        cp.apply(keda.apiservice())                # v1beta1.external.metrics.k8s.io -> it
        cp.wait_apiservice_available("v1beta1.external.metrics.k8s.io")

What runs, as in KEDA's own manifests (config/manager, config/metrics-server) but as processes:
  * `keda` (cmd/operator): controllers for ScaledObjects etc., the scalers (one Kafka client
    per trigger), the gRPC metrics service; cert rotation, APIService and webhook patching off
    (the certificates come from make_certs()); its metrics, health and gRPC ports on 127.0.0.1;
  * `keda-adapter` (cmd/adapter): the external.metrics.k8s.io server the aggregator calls; it
    asks the operator over gRPC (mutual TLS with the same certificates) for every value; its
    HTTPS port on 127.0.0.1. Its Prometheus port (--port) is bound on all interfaces: KEDA's
    cmd/adapter/main.go RunMetricsServer listens on ":<port>" with no address flag. A free port
    is chosen; nothing is served on it that is not also on /metrics of the secure port.
Both use the control plane's admin kubeconfig (KUBECONFIG), WATCH_NAMESPACE="" (all),
POD_NAMESPACE=KEDA_CLUSTER_OBJECT_NAMESPACE=keda; logs in WORKDIR/{operator,adapter}.log.
"""

import ctypes
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import kos_harness as kh
import kos_k8s

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_SH = REPO_ROOT / "scripts" / "install-keda.sh"
NAMESPACE = "keda"
SERVICE = "keda-metrics-apiserver"
APISERVICE = "v1beta1.external.metrics.k8s.io"


def install():
    """Runs scripts/install-keda.sh (builds once, then a no-op) and returns the install dir
    (bin/keda, bin/keda-adapter, crd/*.yaml, src -> the module source)."""
    subprocess.run([str(INSTALL_SH)], check=True)
    out = subprocess.run([str(INSTALL_SH), "--print-dir"], check=True, capture_output=True,
                         text=True).stdout.strip()
    return Path(out)


def version():
    return kos_k8s.versions()["KEDA_VERSION"]


def make_certs(outdir):
    """A CA and one leaf (ca.crt, tls.crt, tls.key in OUTDIR, the layout KEDA's --cert-dir
    wants): EC P-256, serverAuth + clientAuth (the operator's gRPC server and the adapter's
    gRPC client present the same certificate, as with KEDA's own cert rotation), SANs for
    127.0.0.1 and the in-cluster service names. Returns OUTDIR."""
    d = Path(outdir)
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, cwd=d)

    ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key")
    ossl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "30", "-subj",
         "/CN=kos-bench-keda-ca", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", "ca.crt")
    ossl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "tls.key")
    ossl("req", "-new", "-key", "tls.key", "-subj", "/CN=keda-operator", "-out", "tls.csr")
    sans = ",".join(["IP:127.0.0.1", "DNS:localhost"] + [
        f"DNS:{svc}.{NAMESPACE}.svc{suffix}"
        for svc in ("keda-operator", SERVICE, "keda-admission-webhooks")
        for suffix in ("", ".cluster.local")])
    (d / "tls.ext").write_text("basicConstraints=critical,CA:FALSE\n"
                               "keyUsage=critical,digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth,clientAuth\n"
                               f"subjectAltName={sans}\n")
    ossl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-sha256", "-days", "30", "-extfile", "tls.ext", "-out", "tls.crt")
    return d


def apply_crds(cp, install_dir=None):
    """Installs KEDA's CRDs (server-side: the ScaledObject CRD is too big for the
    last-applied annotation of a client-side apply) and waits until they are Established."""
    crd = Path(install_dir or install()) / "crd"
    cp.kubectl("apply", "--server-side", "-f", str(crd))
    # Polled rather than `kubectl wait`: that fails ("status.conditions accessor error") when
    # it reads a CRD before the apiserver has written any condition.
    names = ("scaledobjects.keda.sh", "triggerauthentications.keda.sh")

    def established():
        for n in names:
            crd = cp.kubectl_json("get", f"crd/{n}")
            conds = (crd.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True"
                       for c in conds):
                return False
        return True
    kos_k8s.wait_until(established, timeout=60, interval=0.5, what="KEDA CRDs Established")


def _die_with_parent():
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Keda:
    """The operator and the metrics apiserver as child processes (SIGTERM on our death).

    start() waits for the operator's /readyz and the adapter's /readyz; stop() is idempotent
    and returns {"operator": rc, "adapter": rc}. Extra environment (e.g. KEDA_* tuning) and
    flags per process through the constructor."""

    def __init__(self, cp, workdir, install_dir=None, env=None, operator_args=(),
                 adapter_args=()):
        self.cp = cp
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.install_dir = Path(install_dir or install())
        self.certs = self.workdir / "certs"
        if not (self.certs / "tls.crt").exists():
            make_certs(self.certs)
        self.extra_env = dict(env or {})
        self.operator_args = list(operator_args)
        self.adapter_args = list(adapter_args)
        self.procs = {}
        self.logs = {}
        self.ports = {}

    @property
    def ca_bundle_b64(self):
        import base64
        return base64.b64encode((self.certs / "ca.crt").read_bytes()).decode()

    def pids(self):
        """{"operator": pid, "adapter": pid} of the running processes."""
        return {k: p.pid for k, p in self.procs.items() if p.poll() is None}

    def _env(self):
        env = dict(os.environ, KUBECONFIG=self.cp.kubeconfig, WATCH_NAMESPACE="",
                   POD_NAMESPACE=NAMESPACE, KEDA_CLUSTER_OBJECT_NAMESPACE=NAMESPACE,
                   OPERATOR_NAME="keda-operator")
        env.update(self.extra_env)
        return env

    def _launch(self, name, cmd):
        log = self.workdir / f"{name}.log"
        f = open(log, "a")
        f.write(f"===== {time.strftime('%H:%M:%S')} {' '.join(map(str, cmd))}\n")
        f.flush()
        self.logs[name] = (log, f)
        self.procs[name] = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL,
                                            stdout=f, stderr=subprocess.STDOUT, env=self._env(),
                                            preexec_fn=_die_with_parent)

    def log_tail(self, name, n=30):
        try:
            text = self.logs[name][0].read_text(errors="replace")
        except (KeyError, FileNotFoundError):
            return ""
        return "".join(text.splitlines(True)[-n:])

    def _wait(self, name, probe, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.procs[name]
            if p.poll() is not None:
                raise RuntimeError(f"keda {name} exited with {p.returncode}:\n"
                                   f"{self.log_tail(name)}")
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"keda {name} not ready in {timeout}s:\n{self.log_tail(name)}")

    def start(self, timeout=120):
        (self.workdir / "tmp").mkdir(exist_ok=True)
        self.ports = {k: kh.free_port() for k in ("op_metrics", "op_health", "op_grpc",
                                                  "ad_secure", "ad_metrics")}
        kc = self.cp.kubeconfig
        bind = self.install_dir / "bin"
        self._launch("operator", [
            bind / "keda", "--leader-elect=false", "--zap-log-level=info",
            f"--metrics-bind-address=127.0.0.1:{self.ports['op_metrics']}",
            f"--health-probe-bind-address=127.0.0.1:{self.ports['op_health']}",
            f"--metrics-service-bind-address=127.0.0.1:{self.ports['op_grpc']}",
            f"--cert-dir={self.certs}", "--enable-cert-rotation=false",
            "--enable-webhook-patching=false", "--enable-apiservice-patching=false",
            f"--ca-dir={self.workdir / 'tmp'}", *self.operator_args])
        hp = self.ports["op_health"]
        self._wait("operator", lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{hp}/readyz", timeout=2).status == 200, timeout)
        self._launch("adapter", [
            bind / "keda-adapter", "--bind-address=127.0.0.1",
            f"--secure-port={self.ports['ad_secure']}",
            f"--tls-cert-file={self.certs / 'tls.crt'}",
            f"--tls-private-key-file={self.certs / 'tls.key'}", f"--cert-dir={self.certs}",
            f"--metrics-service-address=127.0.0.1:{self.ports['op_grpc']}",
            f"--port={self.ports['ad_metrics']}", f"--lister-kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            "--zap-log-level=info", *self.adapter_args])
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        sp = self.ports["ad_secure"]
        self._wait("adapter", lambda: urllib.request.urlopen(
            f"https://127.0.0.1:{sp}/readyz", timeout=2, context=ctx).status == 200, timeout)
        return self

    def apiservice(self):
        """Namespace keda, an ExternalName Service to 127.0.0.1 (the control plane runs with
        aggregator routing off) and KEDA's APIService with our CA, as KEDA's
        config/metrics-server/api_service.yaml names them."""
        return [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": SERVICE, "namespace": NAMESPACE},
             "spec": {"type": "ExternalName", "externalName": "127.0.0.1"}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": APISERVICE,
                          "labels": {"app.kubernetes.io/part-of": "keda-operator"}},
             "spec": {"service": {"name": SERVICE, "namespace": NAMESPACE,
                                  "port": self.ports["ad_secure"]},
                      "group": "external.metrics.k8s.io", "version": "v1beta1",
                      "caBundle": self.ca_bundle_b64,
                      "groupPriorityMinimum": 100, "versionPriority": 100}},
        ]

    def stop(self, timeout=30):
        rcs = {}
        for name in ("adapter", "operator"):
            p = self.procs.get(name)
            if p is None:
                continue
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            rcs[name] = p.returncode
            self.logs[name][1].close()
        self.procs = {}
        return rcs

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()
