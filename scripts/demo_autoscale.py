#!/usr/bin/python3
"""The demo's stand-in for the HPA, on a laptop without Kubernetes: polls kos-adapter's
External metric kafka_consumergroup_lag for the processor's consumer group every sync period,
applies the HPA's own rule (desired = ceil(current * value / (current * target)), a 10 %
tolerance, min/max, a scale-down stabilization window) and starts or stops kos-processor
processes named kos-processor-<n> (their POD_NAME, hence their client.id). It records lag,
replicas and the generator's rate over time and draws them to a PNG.

    demo_autoscale.py --adapter https://127.0.0.1:PORT --certs DIR --bootstrap B \
        --processor BIN --datagen-url http://127.0.0.1:PORT --duration 120 --png out.png
"""

import argparse
import http.client
import json
import math
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def log(msg):
    print(f"[autoscale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Adapter:
    def __init__(self, url, certs):
        host, port = url.removeprefix("https://").split(":")
        self.host, self.port = host, int(port)
        self.ctx = ssl.create_default_context(cafile=str(Path(certs) / "ca.crt"))
        self.ctx.load_cert_chain(str(Path(certs) / "admin.crt"), str(Path(certs) / "admin.key"))

    def external(self, metric, selector):
        c = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=5)
        try:
            c.request("GET", f"/apis/external.metrics.k8s.io/v1beta1/namespaces/default/{metric}"
                             f"?labelSelector={selector}")
            r = c.getresponse()
            body = json.loads(r.read())
            if r.status != 200:
                return None, body.get("message")
            return sum(quantity(i["value"]) for i in body["items"]), None
        finally:
            c.close()


def quantity(q):
    mult = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    return float(q[:-1]) * mult[q[-1]] if q[-1] in mult else float(q)


def datagen_rate(url):
    """The generator's achieved frames/s, from its /metrics (None if unavailable)."""
    if not url:
        return None
    try:
        text = urllib.request.urlopen(f"{url}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("kos_datagen_achieved_rate"):
            return float(line.split()[-1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--processor", required=True, help="kos-processor binary")
    ap.add_argument("--processor-args", default="", help="extra flags, space separated")
    ap.add_argument("--group", default="KINGOFSCALING-APP")
    ap.add_argument("--target", type=float, default=20000, help="lag per replica (AverageValue)")
    ap.add_argument("--min", type=int, default=1)
    ap.add_argument("--max", type=int, default=4)
    ap.add_argument("--sync", type=float, default=2.0, help="seconds between evaluations")
    ap.add_argument("--downscale-window", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--datagen-url", default="")
    ap.add_argument("--png", default="")
    ap.add_argument("--json", default="")
    ap.add_argument("--workdir", default=".")
    a = ap.parse_args()
    adapter = Adapter(a.adapter, a.certs)
    procs = []  # (name, Popen)
    series = []  # (t, lag, replicas, rate)
    recommendations = []  # (t, desired) for the scale-down window
    t0 = time.time()
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def scale_to(n):
        while len(procs) < n:
            name = f"kos-processor-{len(procs)}"
            env = dict(os.environ, POD_NAME=name)
            logf = open(Path(a.workdir) / f"{name}.log", "ab")
            p = subprocess.Popen([a.processor, "-b", a.bootstrap, *a.processor_args.split()],
                                 env=env, stdout=logf, stderr=logf)
            procs.append((name, p))
            log(f"started {name} (pid {p.pid})")
        while len(procs) > n:
            name, p = procs.pop()
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
            log(f"stopped {name}")

    scale_to(a.min)
    try:
        while not stop and time.time() - t0 < a.duration:
            now = time.time() - t0
            lag, err = adapter.external("kafka_consumergroup_lag", f"group%3D{a.group}")
            rate = datagen_rate(a.datagen_url)
            cur = len(procs)
            if lag is None:
                log(f"metric unavailable ({err}): holding at {cur}")  # as the HPA does
            else:
                ratio = lag / (a.target * cur)
                desired = cur if abs(ratio - 1) <= 0.1 else math.ceil(ratio * cur)
                desired = max(a.min, min(a.max, desired))
                recommendations.append((now, desired))
                recent = [d for t, d in recommendations if now - t <= a.downscale_window]
                if desired < cur:
                    desired = max(recent)  # scale down only to the highest recent recommendation
                if desired != cur:
                    log(f"lag {lag:.0f} -> {desired} replicas (from {cur})")
                    scale_to(desired)
            series.append((round(now, 2), lag, len(procs), rate))
            print(f"t={now:6.1f}s lag={lag if lag is not None else '?':>8} replicas={len(procs)}"
                  f" rate={rate if rate is not None else '?'}", flush=True)
            time.sleep(a.sync)
    finally:
        scale_to(0)
    if a.json:
        Path(a.json).write_text(json.dumps(series))
    if a.png:
        plot(series, a.png, a.target)
        log(f"plot written to {a.png}")


def plot(series, path, target):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = [s[0] for s in series]
    fig, ax1 = plt.subplots(figsize=(10, 5))
    ax1.plot(t, [s[1] if s[1] is not None else float("nan") for s in series],
             color="tab:red", label="consumer-group lag (kos-adapter)")
    ax1.axhline(target, color="tab:red", linestyle=":", linewidth=1, label="target per replica")
    ax1.set_xlabel("seconds")
    ax1.set_ylabel("lag (messages)", color="tab:red")
    ax2 = ax1.twinx()
    ax2.step(t, [s[2] for s in series], where="post", color="tab:blue", label="processor replicas")
    ax2.set_ylabel("replicas", color="tab:blue")
    ax2.set_ylim(0, max(s[2] for s in series) + 1)
    rates = [s[3] for s in series]
    if any(r is not None for r in rates):
        ax3 = ax1.twinx()
        ax3.spines["right"].set_position(("axes", 1.1))
        ax3.plot(t, [r if r is not None else float("nan") for r in rates], color="tab:green",
                 alpha=0.6, label="generator frames/s")
        ax3.set_ylabel("frames/s", color="tab:green")
    lines = [l for ax in fig.axes for l in ax.get_lines()]
    ax1.legend(lines, [l.get_label() for l in lines], loc="upper left", fontsize=8)
    ax1.set_title("kos: lag served by kos-adapter drives the processor's replicas")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
