#!/usr/bin/env python3
"""kos-adapter under faults (issue 9, "Faults and load, measured").

  1. leader-stop: a 3-node KRaft cluster on loopback; a group with lag on partitions led by the
     node that is also its coordinator; that node stopped (SIGTERM, controlled shutdown) and, in
     a second round, killed (SIGKILL: fenced only after broker.session.timeout.ms). Timeline of
     the adapter's served lag (probed 20 times a second): 503 window, time to the right value
     after the leaders moved, refreshes in between, refresh durations against --kafka-timeout.
     Anchor, in the same run: Kafka's own ConsumerGroupCommand run back to back, time until it
     is right again after the move.
  2. soak: tests/harness/kos_soak.py for --soak-seconds (default 600): mixed load through the
     aggregator and direct, a broker restart, a kube-apiserver restart and a serving-certificate
     rotation in the middle; errors by window, req/s, RSS/fd growth, a PNG.

Usage: tests/bench/bench_faults.py [--only leader-stop,soak] [--soak-seconds N]
Writes tests/bench/results/faults.json and tests/bench/results/soak.png (not committed).
Exits non-zero if a promise is broken (the figures are written first).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_adapter as ka  # noqa: E402
import kos_faults  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_soak  # noqa: E402

REFRESH_S, STALENESS_S, KAFKA_TIMEOUT_S = 1.0, 15, 5  # the adapter's defaults


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def leader_stop_checks(tl):
    bad = list(tl["violations"])
    if tl["right_again_s"] is None:
        bad.append("never right again after the move")
    elif tl["refreshes_between_move_and_right"] > 2:
        bad.append(f"{tl['refreshes_between_move_and_right']} refreshes after the move")
    longest = max(tl["refresh_failed_ms"] + [tl["refresh_ok_ms_max"] or 0])
    if longest > tl["kafka_timeout_ms"]:
        bad.append(f"a refresh took {longest} ms > --kafka-timeout {tl['kafka_timeout_ms']} ms")
    return bad


def bench_leader_stop(tmp):
    out, bad = {}, []
    certs = ka.make_certs(Path(tmp) / "certs")
    with kh.KafkaCluster(Path(tmp) / "cluster", 3) as cluster:
        log(f"cluster up in {cluster.start_seconds:.1f} s at {cluster.bootstrap}")
        for mode in ("stop", "kill"):
            tl = kos_faults.leader_stop(cluster, certs, tmp, f"lagging-{mode}", f"g-{mode}",
                                        mode=mode, refresh_s=REFRESH_S, staleness_s=STALENESS_S,
                                        kafka_timeout_s=KAFKA_TIMEOUT_S, anchor=True)
            a, c = tl["right_again_after_move_s"], tl["cgc_right_again_after_move_s"]
            tl["ratio_cgc_over_kos_right_again"] = round(c / a, 2) if a and c else None
            log(f"leader {mode}: {json.dumps(tl)}")
            out[mode] = tl
            bad += [f"{mode}: {b}" for b in leader_stop_checks(tl)]
    return out, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="leader-stop,soak")
    ap.add_argument("--soak-seconds", type=int, default=600)
    args = ap.parse_args()
    only = set(args.only.split(","))
    results, broken = {}, []
    (HERE / "results").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kos-bench-faults-") as tmp:
        if "leader-stop" in only:
            results["leader_stop"], bad = bench_leader_stop(tmp)
            broken += bad
        if "soak" in only:
            png = HERE / "results" / "soak.png"
            res = kos_soak.run(Path(tmp) / "soak", args.soak_seconds, png)
            res.pop("zero_samples", None)
            results["soak"] = res
            broken += [f"soak: {b}" for b in kos_soak.check(res)]
    results["broken_promises"] = broken
    print(json.dumps(results, indent=2))
    (HERE / "results" / "faults.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
