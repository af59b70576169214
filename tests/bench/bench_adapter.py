#!/usr/bin/env python3
"""kos-adapter benchmarks (issue 2), on a local KRaft broker this script starts itself.

  1. refresh: 100 topics x 32 partitions, 500 groups consuming 2 topics each. Median full
     refresh time and adapter RSS, side by side in one run with Kafka's own
     `kafka-consumer-groups --describe --all-groups` (the anchor) on the same cluster.
     Goals: refresh <= 1 s, RSS <= 64 MiB, >= 10x faster than the Kafka tool.
  2. serving: an object-metric request and an external request over TLS with client
     certificates and keep-alive, driven by vegeta: requests/s, p50/p99, RSS.
  3. freshness: time from an offset commit to the served value changing (goal: <= refresh
     interval + 100 ms).

Usage: tests/bench/bench_adapter.py [--small] [--only refresh,serving,freshness]
Prints a table per benchmark and writes tests/bench/results/adapter.json (not committed).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_harness as kh  # noqa: E402

BUILD = ka.build_dir()


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_kib(pid):
    st = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", st).group(1))
    hwm = int(re.search(r"VmHWM:\s+(\d+)", st).group(1))
    return rss, hwm


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def refresh_durations(ad, n, timeout=300):
    """Waits for n more "refresh:" debug lines and returns their durations in ms."""
    start = len(ad.stderr_lines)
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = [float(m.group(1)) for line in ad.stderr_lines[start:]
               if (m := re.search(r"lag: refresh: .* ([0-9.]+) ms$", line))]
        if len(got) >= n:
            return got[:n]
        time.sleep(0.2)
    raise RuntimeError(f"only {len(got)} refreshes in {timeout}s: {ad.stderr()}")


def bench_refresh(kafka, certs, topics, parts, groups, want_lag, rounds=3, per_round=5):
    kos_ms, cgc_s, rss = [], [], []
    served_total = None
    for r in range(rounds):
        # kos: a fresh process each round (cold caches), then per_round refreshes.
        with ka.Adapter(certs, kafka.bootstrap, args=["-d", "--refresh-interval", "1s",
                                                       "--max-staleness", "60s"]) as ad:
            kos_ms += refresh_durations(ad, per_round)
            rss.append(rss_kib(ad.proc.pid))
            st, body = ad.get("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/"
                              "kafka_consumergroup_lag?labelSelector=group+notin+%28x%29")
            served_total = sum(int(i["value"]) for i in body["items"]
                               if i["metricLabels"]["group"].startswith("bench-g"))
        # anchor: what an operator runs to see all groups' lag.
        t0 = time.time()
        rows = kh.cgc_describe_all(kafka.bootstrap)
        cgc_s.append(time.time() - t0)
        cgc_total = sum(row["lag"] for row in rows if row["group"].startswith("bench-g"))
        log(f"refresh round {r + 1}/{rounds}: kos median {statistics.median(kos_ms):.1f} ms, "
            f"kafka-consumer-groups {cgc_s[-1]:.2f} s")
    assert served_total == want_lag == cgc_total, (served_total, want_lag, cgc_total)
    med_kos = statistics.median(kos_ms) / 1000
    med_cgc = statistics.median(cgc_s)
    return {
        "scenario": f"{topics} topics x {parts} partitions, {groups} groups x 2 topics",
        "kos_refresh_median_s": round(med_kos, 4),
        "kos_refresh_p90_s": round(pct(kos_ms, 90) / 1000, 4),
        "kafka_consumer_groups_median_s": round(med_cgc, 3),
        "ratio_anchor_over_kos": round(med_cgc / med_kos, 1),
        "kos_rss_mib_median": round(statistics.median(x[0] for x in rss) / 1024, 1),
        "kos_rss_peak_mib": round(max(x[1] for x in rss) / 1024, 1),
        "total_lag_checked": want_lag,
    }


def vegeta_path():
    """vegeta as scripts/install-k8s.sh builds it (pinned in scripts/k8s-versions.env)."""
    cache = Path(os.environ.get("KOS_CACHE", Path.home() / ".cache/kos"))
    env = dict(line.split("=", 1) for line in
               (HERE.parents[1] / "scripts/k8s-versions.env").read_text().splitlines()
               if "=" in line and not line.startswith("#"))
    for p in (os.environ.get("VEGETA"), str(cache / f"k8s-{env['KUBE_VERSION']}/bin/vegeta"),
              shutil.which("vegeta")):
        if p and os.access(p, os.X_OK):
            return p
    return None


def bench_serving(kafka, certs, tmp, duration="10s"):
    vegeta = vegeta_path()
    if not vegeta:
        log("serving: vegeta not found (scripts/install-k8s.sh installs it); skipped")
        return {"skipped": "vegeta not installed"}
    mapping = "default deployments.apps processor bench-g0001\n"
    targets = {
        "object": "/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/deployments.apps/"
                  "processor/kafka_consumergroup_lag",
        "external": "/apis/external.metrics.k8s.io/v1beta1/namespaces/default/"
                    "kafka_consumergroup_lag?labelSelector=group%3Dbench-g0001",
    }
    out = {}
    with ka.Adapter(certs, kafka.bootstrap, mapping=mapping,
                    args=["--threads", "2", "--refresh-interval", "2s"]) as ad:
        for name, path in targets.items():
            assert ad.get(path)[0] == 200
            tf = Path(tmp) / f"targets-{name}"
            tf.write_text(f"GET https://127.0.0.1:{ad.port}{path}\n")
            res = subprocess.run(
                [vegeta, "attack", "-targets", str(tf), "-rate=0", "-max-workers=16",
                 "-workers=16", f"-duration={duration}", "-keepalive=true",
                 "-root-certs", str(certs / "ca.crt"), "-cert", str(certs / "admin.crt"),
                 "-key", str(certs / "admin.key")], capture_output=True, check=True)
            rep = subprocess.run([vegeta, "report", "-type=json"], input=res.stdout,
                                 capture_output=True, check=True)
            r = json.loads(rep.stdout)
            rss, hwm = rss_kib(ad.proc.pid)
            out[name] = {
                "requests_per_s": round(r["throughput"], 0),
                "p50_ms": round(r["latencies"]["50th"] / 1e6, 3),
                "p99_ms": round(r["latencies"]["99th"] / 1e6, 3),
                "success": r["success"],
                "rss_mib": round(rss / 1024, 1),
                "peak_rss_mib": round(hwm / 1024, 1),
            }
            log(f"serving {name}: {out[name]}")
    return out


def bench_freshness(kafka, certs, group, samples=20, interval="1s"):
    path = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag"
            f"?labelSelector=group%3D{group}")
    kh.testkit("-b", kafka.bootstrap, "create-topic", group, 1)
    kh.testkit("-b", kafka.bootstrap, "produce", group, 0, samples + 1)
    kh.testkit("-b", kafka.bootstrap, "commit", group, f"{group}:0=0")
    delays = []
    with ka.Adapter(certs, kafka.bootstrap, args=["--refresh-interval", interval]) as ad:
        kh.wait_until(lambda: ad.get(path)[0] == 200, timeout=30, what=f"{group} served")
        for i in range(1, samples + 1):
            kh.testkit("-b", kafka.bootstrap, "commit", group, f"{group}:0={i}")
            t0 = time.time()  # the commit is acknowledged when testkit returns
            want = str(samples + 1 - i)
            while True:
                st, body = ad.get(path)
                if st == 200 and body["items"] and body["items"][0]["value"] == want:
                    break
                if time.time() - t0 > 10:
                    raise RuntimeError("commit never became visible")
                time.sleep(0.005)
            delays.append(time.time() - t0)
            time.sleep(0.137 * (i % 7))  # commit at different phases of the refresh cycle
    return {
        "refresh_interval": interval,
        "median_s": round(statistics.median(delays), 3),
        "p90_s": round(pct(delays, 90), 3),
        "max_s": round(max(delays), 3),
        "goal_s": 1.1,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", action="store_true", help="10 topics, 50 groups (smoke run)")
    ap.add_argument("--only", default="refresh,serving,freshness")
    args = ap.parse_args()
    only = set(args.only.split(","))
    topics, parts, groups, records = (10, 32, 50, 100) if args.small else (100, 32, 500, 100)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kos-bench-") as tmp:
        certs = ka.make_certs(Path(tmp) / "certs")
        with kh.KafkaBroker(Path(tmp) / "kafka") as kafka:
            log(f"broker up at {kafka.bootstrap}")
            if "freshness" in only:
                results["freshness_one_group"] = bench_freshness(kafka, certs, group="fresh-a")
            log("building the scenario")
            t0 = time.time()
            out = subprocess.run([str(BUILD / "tests/bench/benchkit"), "-b", kafka.bootstrap,
                                  "scenario", str(topics), str(parts), str(groups), str(records)],
                                 capture_output=True, text=True, check=True)
            want_lag = int(out.stdout.strip())
            log(f"scenario ready in {time.time() - t0:.1f} s (total lag {want_lag})")
            if "refresh" in only:
                results["refresh"] = bench_refresh(kafka, certs, topics, parts, groups, want_lag)
            if "serving" in only:
                results["serving"] = bench_serving(kafka, certs, tmp)
            if "freshness" in only:
                results["freshness_500_groups"] = bench_freshness(kafka, certs, group="fresh-b")
    print(json.dumps(results, indent=2))
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "adapter.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
