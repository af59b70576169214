"""kos-datagen's PUT /rate (issue 9, item 13): any pod could set the rate to max. With
--control-token-file it needs the bearer token (401 without, 403 wrong, the file re-read on
every PUT so a rotated Secret applies); without one it is answered to loopback peers only.
GET /rate, /metrics and the health paths stay open in both modes. The loopback rule is
checked from a real non-loopback address: a network namespace of the test's own where lo
also carries 10.99.0.1."""

import http.client
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_datagen as kd  # noqa: E402

NOWHERE = "127.0.0.1:1"  # the HTTP port serves while the generator waits for a broker


def call(port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body,
                     headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        return r.status, r.getheader("WWW-Authenticate"), r.read().decode()
    finally:
        conn.close()


def test_token_mode(tmp_path):
    tok = tmp_path / "token"
    tok.write_text("first-token-0123456789\n")
    d = kd.Datagen(NOWHERE, "--connect-timeout", "1h", "--control-token-file", tok)
    d.start(wait_ready=False)
    try:
        port = d.port
        st, auth, _ = call(port, "PUT", "/rate", "max")
        assert (st, auth) == (401, "Bearer")
        assert call(port, "PUT", "/rate", "max", token="wrong")[0] == 403
        assert call(port, "PUT", "/rate", "max", token="first-token-012345678")[0] == 403
        assert json.loads(call(port, "GET", "/rate")[2]) == {"rate": 1000}  # unchanged
        st, _, body = call(port, "PUT", "/rate", "2500", token="first-token-0123456789")
        assert st == 200 and json.loads(body) == {"rate": 2500}
        assert json.loads(call(port, "GET", "/rate")[2]) == {"rate": 2500}
        # open without a token
        for path in ("/metrics", "/healthz", "/rate"):
            assert call(port, "GET", path)[0] == 200, path
        # a rotated Secret: the new token works at once, the old one no longer
        tok.write_text("second-token\n")
        assert call(port, "PUT", "/rate", "3000", token="first-token-0123456789")[0] == 403
        assert call(port, "PUT", "/rate", "3000", token="second-token")[0] == 200
        # a broken file later keeps the last good token (and says so in the log)
        tok.write_text("")
        assert call(port, "PUT", "/rate", "3500", token="second-token")[0] == 200
        assert "keeping the previous token" in d.stderr()
        assert "PUT /rate refused (403)" in d.stderr()
    finally:
        d.proc.kill()
        d.proc.wait()


def test_bad_token_file_refused_at_start(tmp_path):
    for content, needle in (("", "empty"), ("a b", "not a bearer token")):
        f = tmp_path / "t"
        f.write_text(content)
        p = subprocess.run([kd.datagen_path(), "-b", NOWHERE, "--control-token-file", str(f),
                            "--http-port", "0", "--bind-address", "127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2 and needle in p.stderr, p.stderr
    p = subprocess.run([kd.datagen_path(), "-b", NOWHERE, "--control-token-file",
                        str(tmp_path / "missing"), "--http-port", "0"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "missing" in p.stderr, p.stderr


def test_loopback_mode_from_a_real_other_address():
    reqs = [["PUT", "/rate", "max"], ["GET", "/rate", None], ["GET", "/metrics", None],
            ["GET", "/healthz", None]]
    out = subprocess.run(
        ["unshare", "-n", sys.executable, str(HERE / "netns_peer.py"), json.dumps(reqs),
         kd.datagen_path(), "-b", NOWHERE, "--connect-timeout", "1h", "--http-port", "0",
         "--bind-address", "0.0.0.0"],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    print(got)
    assert got["127.0.0.1"] == [200, 200, 200, 200]
    assert got["10.99.0.1"] == [403, 200, 200, 200]
