"""Run inside a fresh network namespace (unshare -n) by test_datagen_control.py: gives the
namespace's lo the extra address 10.99.0.1 (not loopback), starts the command given (a server
binding 0.0.0.0 that prints "listening on port N"), makes the requests listed in the JSON
argument from 127.0.0.1 and from 10.99.0.1, prints the statuses as one JSON line and stops
the server. Nothing leaves the namespace; it disappears with this process.

    unshare -n python3 netns_peer.py '[["PUT","/rate","500"],["GET","/metrics",null]]' CMD...
"""

import http.client
import json
import socket
import subprocess
import sys

PEER = "10.99.0.1"


def request(src, port, method, path, body):
    conn = http.client.HTTPConnection(PEER if src == PEER else "127.0.0.1", port, timeout=5,
                                      source_address=(src, 0))
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def main():
    reqs = json.loads(sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", f"{PEER}/32", "dev", "lo"], check=True)
    proc = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.split()[-1])
        out = {}
        for src in ("127.0.0.1", PEER):
            out[src] = [request(src, port, m, p, b) for m, p, b in reqs]
        print(json.dumps(out), flush=True)
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    socket.setdefaulttimeout(5)
    main()
