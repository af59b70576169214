"""A connection flood for the security tests, run as its own process so its work does not
share the measuring test's interpreter lock. Keeps COUNT connections open to HOST:PORT from
the source address SRC and re-opens every one the server closes (at most RATE new
connections a second, 0 = as fast as it can), until DURATION seconds have passed; prints one
JSON line of figures at the end.

    python3 flood.py --port 6443 --count 1000 --mode tcp --duration 8 --rate 1000
    python3 flood.py --port 6443 --count 320 --mode tls --duration 8 --src 127.0.0.2 --rate 0

Modes: `tcp` connects and sends nothing (no TLS ClientHello); `tls` completes a TLS handshake
without a client certificate and then sends nothing; `http` sends half a request head.
The loop is bounded: at most DURATION seconds and 200 000 connection attempts."""

import argparse
import json
import selectors
import socket
import ssl
import time

MAX_ATTEMPTS = 200_000


def open_one(args, ctx):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.bind((args.src, 0))
    s.settimeout(2)
    s.connect((args.host, args.port))
    if args.mode == "tls":
        s = ctx.wrap_socket(s, server_hostname="localhost")
    elif args.mode == "http":
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    s.setblocking(False)
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--src", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--mode", choices=("tcp", "tls", "http"), default="tcp")
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--rate", type=float, default=0)
    args = ap.parse_args()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sel = selectors.DefaultSelector()
    opened = closed_by_server = failed = attempts = 0
    live = 0
    peak = 0
    start = time.monotonic()
    deadline = start + args.duration
    while time.monotonic() < deadline and attempts < MAX_ATTEMPTS:
        while live < args.count and attempts < MAX_ATTEMPTS and time.monotonic() < deadline:
            # The first COUNT go at once; re-opens are paced by RATE.
            if args.rate and attempts >= args.count and \
                    attempts - args.count >= args.rate * (time.monotonic() - start):
                break
            attempts += 1
            try:
                s = open_one(args, ctx)
            except (OSError, ssl.SSLError):
                failed += 1
                time.sleep(0.001)
                continue
            sel.register(s, selectors.EVENT_READ)
            live += 1
            opened += 1
            peak = max(peak, live)
        # Paced re-opens are spread evenly, not sent in bursts.
        for key, _ in sel.select(timeout=min(0.05, 1 / args.rate) if args.rate else 0.05):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, ssl.SSLWantReadError):
                continue
            except (OSError, ssl.SSLError):
                data = b""
            if not data:  # the server closed it: open another in its place
                sel.unregister(s)
                s.close()
                live -= 1
                closed_by_server += 1
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    print(json.dumps({"opened": opened, "closed_by_server": closed_by_server, "failed": failed,
                      "attempts": attempts, "peak_open": peak}), flush=True)


if __name__ == "__main__":
    main()
