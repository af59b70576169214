"""kos-adapter's identity rules over real TLS connections, without Kafka or Kubernetes (the
broker address is dead: authentication does not need it). Issue 9 items 7, 9 and 12, matched
against k8s.io/apiserver v0.37.2:

  * 9: the client certificate is verified on every request (x509.Authenticator.AuthenticateRequest
    calls Certificate.Verify per request, with the current time): a certificate that expires
    while a keep-alive connection is open is refused on that connection's next request;
  * 7: no fixed count limits an identity: a front-proxy request with 150 X-Remote-Group lines
    is one identity with 150 groups (only the request head size bounds it);
  * 12: clients get kube-apiserver's generic wording: 401 bodies say "Unauthorized" and nothing
    about the certificate (endpoints/filters/authentication.go Unauthorized), /readyz withholds
    the reason of a failed check (server/healthz/healthz.go handleRootHealth: "reason
    withheld"); the details go to the log.

Certificates with a validity of seconds are made with python3-cryptography."""

import datetime
import http.client
import json
import ssl
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402

DEAD_BROKER = "127.0.0.1:9"  # discard port: nothing listens, the lag engine just fails
CUSTOM2 = "/apis/custom.metrics.k8s.io/v1beta2"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return ka.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def adapter(certs):
    ad = ka.Adapter(certs, DEAD_BROKER, args=["--no-kube", "--kafka-timeout", "200ms",
                                              "--refresh-interval", "200ms"])
    ad.start(wait_ready=False)
    yield ad
    rc = ad.stop()
    assert rc == 0, ad.stderr()


def issue(certs, name, cn, ca="client-ca", not_after_s=3600, orgs=()):
    """A client certificate CN=cn signed by CA, valid from a minute ago for not_after_s."""
    ca_cert = x509.load_pem_x509_certificate((certs / f"{ca}.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((certs / f"{ca}.key").read_bytes(), None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name(attrs))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(seconds=not_after_s))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
            .sign(ca_key, hashes.SHA256()))
    (certs / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (certs / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return cert.not_valid_after.replace(tzinfo=datetime.timezone.utc).timestamp()


def get_on(conn, path, headers=()):
    conn.putrequest("GET", path, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_certificate_expiry_is_checked_on_every_request(adapter, certs):
    expires = issue(certs, "short", "shorty", orgs=("system:masters",), not_after_s=4)
    conn = http.client.HTTPSConnection("127.0.0.1", adapter.port,
                                       context=adapter.context("short"), timeout=10)
    try:
        st, body = get_on(conn, CUSTOM2)
        assert st == 200, body
        sock = conn.sock
        time.sleep(max(0.0, expires - time.time()) + 1.5)
        st, body = get_on(conn, CUSTOM2)
        assert conn.sock is sock, "the keep-alive connection was replaced"
        assert st == 401, (st, body[:200])
    finally:
        conn.close()
    # a fresh connection with the expired certificate is refused too
    assert adapter.get(CUSTOM2, cert="short")[0] == 401


def test_many_front_proxy_groups_are_one_identity(adapter):
    hdrs = [("X-Remote-User", "u" * 2000)]
    hdrs += [("X-Remote-Group", f"group-{i:03d}-" + "g" * 100) for i in range(150)]
    st, body = adapter.get(CUSTOM2, cert="front-proxy-client", headers=hdrs)
    assert st == 200, (st, body)


def test_401_bodies_are_kube_apiservers_generic_wording(adapter):
    for cert in (None, "rogue", "proxy-wrong-cn"):
        st, body = adapter.get(CUSTOM2, cert=cert)
        assert st == 401
        assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
        assert body["message"] == "Unauthorized", (cert, body)
    # the reason is in the adapter's log instead
    kh.wait_until(lambda: "not-the-proxy" in adapter.stderr(), timeout=5,
                  what="the refused CN in the log")


def test_readyz_withholds_the_reason(adapter):
    def failed_once():
        st, body = adapter.get("/readyz", cert=None, raw=True)
        return st == 503 and ("refresh" in adapter.stderr().lower() or
                              "kafka" in adapter.stderr().lower())
    kh.wait_until(failed_once, timeout=20, what="a failed lag refresh")
    time.sleep(0.5)
    st, body = adapter.get("/readyz", cert=None, raw=True)
    assert st == 503
    assert body == b"[-]lag-snapshot failed: reason withheld\nreadyz check failed", body
    st, body = adapter.get("/readyz", cert="admin", raw=True)
    assert body == b"[-]lag-snapshot failed: reason withheld\nreadyz check failed", body
