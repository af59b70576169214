"""Runs kos-adapter for tests and benchmarks, and talks to it over TLS the way Kubernetes
clients do (client certificates, front-proxy headers). Standard library only.

    certs = kos_adapter.make_certs(tmp_path / "certs")
    with kos_adapter.Adapter(certs, kafka.bootstrap, mapping="default pods * g1\n") as ad:
        status, body = ad.get("/apis/custom.metrics.k8s.io/v1beta2")
"""

import http.client
import json
import os
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def build_dir():
    return Path(os.environ.get("KOS_BUILD_DIR") or REPO_ROOT / "build")


def adapter_path():
    p = build_dir() / "adapter" / "kos-adapter"
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(f"kos-adapter not built at {p}")
    return str(p)


def make_certs(outdir):
    """Certificates from certs/gen-certs.sh plus the ones tests need to be refused: a client
    certificate from an unknown CA and a front-proxy certificate with a disallowed CN."""
    outdir = Path(outdir)
    subprocess.run([str(REPO_ROOT / "certs" / "gen-certs.sh"), str(outdir)], check=True,
                   capture_output=True)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=outdir)

    if not (outdir / "rogue.crt").exists():
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out",
                "rogue.crt", "-days", "30", "-subj", "/O=system:masters/CN=kos-admin")
    if not (outdir / "proxy-wrong-cn.crt").exists():
        (outdir / "cau.ext").write_text("extendedKeyUsage=clientAuth\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "proxy-wrong-cn.key", "-out",
                "p.csr", "-subj", "/CN=not-the-proxy")
        openssl("x509", "-req", "-in", "p.csr", "-CA", "front-proxy-ca.crt", "-CAkey",
                "front-proxy-ca.key", "-CAcreateserial", "-out", "proxy-wrong-cn.crt", "-days",
                "30", "-extfile", "cau.ext")
    return outdir


class Adapter:
    """kos-adapter on 127.0.0.1 with a free port. Extra flags via `args`."""

    def __init__(self, certs, bootstrap, mapping=None, args=(), workdir=None, port=0,
                 default_auth=True):
        """port 0: any free port (a new one on every start); a fixed port survives restarts
        (an APIService keeps pointing at it). default_auth False: no --client-ca-file or
        --requestheader-* flags."""
        self.certs = Path(certs)
        self.fixed_port = port
        self.default_auth = default_auth
        self.bootstrap = bootstrap
        self.args = list(args)
        self.workdir = Path(workdir or certs)
        self.mapping = mapping
        self.proc = None
        self.port = None
        self.stderr_lines = []

    def start(self, wait_ready=True, timeout=30):
        cmd = [adapter_path(), "-b", self.bootstrap, "--secure-port", str(self.fixed_port),
               "--bind-address", "127.0.0.1",
               "--tls-cert-file", str(self.certs / "serving.crt"),
               "--tls-private-key-file", str(self.certs / "serving.key")]
        if self.default_auth:
            cmd += ["--client-ca-file", str(self.certs / "client-ca.crt"),
                    "--requestheader-client-ca-file", str(self.certs / "front-proxy-ca.crt"),
                    "--requestheader-allowed-names", "front-proxy-client"]
        if self.mapping is not None:
            mf = self.workdir / "mapping.txt"
            mf.write_text(self.mapping)
            cmd += ["--mapping-file", str(mf)]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self.proc.stdout.readline()
        if not line.startswith("listening on port "):
            self.proc.wait(timeout=10)
            raise RuntimeError(f"kos-adapter did not start: {line!r} {self.stderr()}")
        self.port = int(line.split()[-1])
        if wait_ready:
            deadline = time.time() + timeout
            while time.time() < deadline:
                try:
                    if self.get("/readyz", cert=None, raw=True)[0] == 200:
                        return self
                except OSError:
                    if self.proc.poll() is None:
                        raise
                if self.proc.poll() is not None:
                    self.proc.wait(timeout=10)
                    time.sleep(0.2)  # the stderr reader catches up
                    raise RuntimeError(f"kos-adapter exited with {self.proc.returncode} while "
                                       f"starting:\n{self.stderr()}")
                time.sleep(0.1)
            raise RuntimeError(f"kos-adapter not ready in {timeout}s: {self.stderr()}")
        return self

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def stderr(self):
        return "\n".join(self.stderr_lines[-40:])

    def context(self, cert="admin"):
        ctx = ssl.create_default_context(cafile=str(self.certs / "ca.crt"))
        if cert:
            ctx.load_cert_chain(str(self.certs / f"{cert}.crt"), str(self.certs / f"{cert}.key"))
        return ctx

    def request(self, method, path, cert="admin", headers=None, body=None):
        """Returns (status, headers dict (lowercase names), body bytes)."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context(cert),
                                           timeout=10)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in (headers or []):
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def get(self, path, cert="admin", headers=None, raw=False):
        """(status, parsed JSON) — or (status, bytes) with raw=True or a non-JSON answer."""
        status, hdrs, data = self.request("GET", path, cert=cert, headers=headers)
        if raw or not hdrs.get("content-type", "").startswith("application/json"):
            return status, data
        return status, json.loads(data)

    def stop(self, timeout=20):
        """SIGTERM and wait; returns the exit code (ASan/LSan findings make it non-zero)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        rc = self.stop()
        if exc[0] is None and rc != 0:
            raise AssertionError(f"kos-adapter exited with {rc}: {self.stderr()}")


def write_kubeconfig(path, port, certs, user="admin"):
    certs = Path(certs)
    Path(path).write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: kos
  cluster:
    server: https://127.0.0.1:{port}
    certificate-authority: {certs / 'ca.crt'}
users:
- name: {user}
  user:
    client-certificate: {certs / (user + '.crt')}
    client-key: {certs / (user + '.key')}
contexts:
- name: kos
  context: {{cluster: kos, user: {user}}}
current-context: kos
""")
    return path
