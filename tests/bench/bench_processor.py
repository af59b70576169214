#!/usr/bin/env python3
"""Benchmarks of kos-processor against the Kafka Streams reference (tests/streams-ref, 1 stream
thread) on one local broker (not part of ctest).

1. Throughput and memory: the same pre-generated input (kos-datagen --seed --count, both
   topics, 4 partitions each) drained by each implementation pinned to one core (taskset; the
   broker is pinned to the other), at-least-once and exactly-once, in alternating rounds.
   records/s = input records of both topics processed per second between 10 % and 90 % of the
   input (the steady part; start-up excluded); RSS = median VmRSS over that part, and VmHWM.
   Only correct work counts: after each run its output is checked - the final session of
   every key equal to the one computed from the input (which the other implementation must
   match too) and as many joins as the reference made - and no ratio is printed (exit 1)
   unless every run of both passed: a run that drops joins would otherwise look faster.
2. Rebalance pause: one kos-processor consumes live input (kos-datagen at a fixed rate) and a
   second one joins; the pause is the longest time during which no SESSIONS partition receives
   a record, in the 10 s after the join (the steady-state gap before the join, which the commit
   interval of 100 ms shapes, is printed for comparison). Also when the second one leaves
   (SIGTERM). The same for two Kafka Streams instances when --ref-rebalance is given.

Prints medians and ratios; writes tests/bench/results/processor.json.
Usage: tests/bench/bench_processor.py [--frames 300000] [--rounds 3] [--build-dir build]
                                      [--skip-ref] [--only throughput|rebalance] [--ref-rebalance]
Keep the machine otherwise idle while it runs (about 10 minutes).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402
import kos_processor as kp  # noqa: E402

PARTITIONS = 4
PROC_CORE = 1
BROKER_CORE = 0


def rss_kib(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def pin_broker(workdir):
    """Pins every thread of the broker JVM to BROKER_CORE."""
    out = subprocess.run(["pgrep", "-f", f"kafka.Kafka {workdir}/server.properties"],
                         capture_output=True, text=True).stdout.split()
    for pid in out:
        subprocess.run(["taskset", "-a", "-p", "-c", str(BROKER_CORE), pid],
                       capture_output=True)
    return out


def med(xs):
    return statistics.median(xs) if xs else float("nan")


# --- throughput ---------------------------------------------------------------------------


def verify(kafka, out, mode, want):
    """Checks one run's output against the input's expected sessions; returns a list of
    problems (empty: correct)."""
    got = kp.final_sessions(kafka.bootstrap, out, read_committed=mode == "eos")
    diffs = kp.compare(want, got, limit=3)
    if not diffs:
        return []
    missing = len(want.keys() - got.keys())
    wrong = sum(1 for k in want.keys() & got.keys() if want[k] != got[k])
    return [f"{missing} of {len(want)} sessions missing, {wrong} wrong"] + diffs


def drain(kafka, total, impl, mode, tag, want, timeout=600, kos_args=()):
    """Runs one implementation over the whole input; returns its figures and whether its output
    was right."""
    b = kafka.bootstrap
    out = f"bench-{impl}-{mode}-{tag}"
    group = f"bench-{impl}-{mode}-{tag}"
    kh.testkit("-b", b, "create-topic", out, PARTITIONS)
    if impl == "kos":
        args = ["--requests-topic", "bench-rq", "--responses-topic", "bench-rs",
                "--sessions-topic", out, "-g", group]
        if mode == "eos":
            args.append("--exactly-once")
        p = kp.Processor(b, *args, *kos_args, name=group)
        p.cmd = ["taskset", "-c", str(PROC_CORE)] + p.cmd
        p.start()
        pid = p.proc.pid

        last = {}

        def count():
            m = p.metrics()
            last.update(m)
            return sum(v for k, v in m.items() if k.startswith("kos_processor_records_in_total"))

        def joins():
            return int(last.get("kos_processor_joins_total", -1))
    else:
        args = ["--app-id", group, "--rq", "bench-rq", "--rs", "bench-rs", "--out", out]
        if mode == "eos":
            args.append("--eos")
        p = kp.StreamsRef(b, *args, taskset=PROC_CORE).start()
        pid = p.proc.pid

        def count():
            s = p.stats()
            return s["in"] if s else 0

        def joins():
            s = p.stats()
            return s["joined"] if s else -1
    samples = []  # (t, count, rss)
    t0 = time.monotonic()
    try:
        while True:
            n = count()
            samples.append((time.monotonic(), n, rss_kib(pid)))
            if n >= total:
                break
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"{impl} {mode}: {n} of {total} records in {timeout}s")
            time.sleep(0.1 if impl == "kos" else 0.25)
        hwm = rss_kib(pid, "VmHWM")
        if impl == "kos":
            count()  # the joins of the last record too
        else:
            time.sleep(1.5)  # one more stats line
        n_joins = joins()
    finally:
        if impl == "kos":
            p.terminate()
        else:
            p.stop()

    def crossing(frac):
        for t, n, _ in samples:
            if n >= frac * total:
                return t, n
        return samples[-1][0], samples[-1][1]

    (t10, n10), (t90, n90) = crossing(0.10), crossing(0.90)
    rate = (n90 - n10) / (t90 - t10) if t90 > t10 else float("nan")
    steady = [r for t, _, r in samples if t10 <= t <= t90 and r]
    return {"records_s": rate, "rss_mib": med(steady) / 1024, "hwm_mib": hwm / 1024,
            "seconds": samples[-1][0] - t0, "joins": n_joins,
            "problems": verify(kafka, out, mode, want)}


def bench_throughput(kafka, args, results):
    b = kafka.bootstrap
    t = int(time.time() * 1000)
    rc, _, err = kd.run(b, "--requests-topic", "bench-rq", "--responses-topic", "bench-rs",
                        "--partitions", PARTITIONS, "--count", args.frames, "--rate", 0,
                        "--seed", 1, "--ts-start", t, "--stats-interval", 0, timeout=600)
    assert rc == 0, err
    total = sum(kd.end_offsets(b, "bench-rq", PARTITIONS).values()) + \
        sum(kd.end_offsets(b, "bench-rs", PARTITIONS).values())
    want = kp.expected_sessions(b, "bench-rq", "bench-rs")
    print(f"input: {args.frames} frames, {total} records in 2 x {PARTITIONS} partitions "
          f"(kos-datagen --seed 1), {len(want)} sessions expected; each implementation pinned "
          f"to core {PROC_CORE}, broker to core {BROKER_CORE}")
    impls = ["kos"] + ([] if args.skip_ref else ["ref"])
    refused = []
    for mode in args.modes.split(","):
        rows = {i: [] for i in impls}
        for r in range(args.rounds):
            for impl in impls:
                row = drain(kafka, total, impl, mode, f"r{r}", want,
                            kos_args=args.kos_args.split())
                rows[impl].append(row)
                verdict = "output right" if not row["problems"] else \
                    "OUTPUT WRONG: " + "; ".join(row["problems"])
                print(f"  {mode} round {r + 1} {impl}: {row['records_s']:>9,.0f} records/s, "
                      f"RSS {row['rss_mib']:6.1f} MiB (peak {row['hwm_mib']:6.1f}), "
                      f"{row['seconds']:.1f} s, {row['joins']} joins, {verdict}", flush=True)
                if row["problems"]:
                    refused.append(f"{mode} round {r + 1} {impl}: {row['problems'][0]}")
        joins = {i: {x["joins"] for x in rows[i]} for i in impls}
        if "ref" in joins and joins["kos"] != joins["ref"]:
            refused.append(f"{mode}: joins kos {sorted(joins['kos'])} != ref "
                           f"{sorted(joins['ref'])}")
        summary = {i: {k: med([x[k] for x in rows[i]]) for k in rows[i][0] if k != "problems"}
                   for i in impls}
        results["throughput"][mode] = summary
        print(f"{mode}: medians of {args.rounds} rounds")
        for i in impls:
            s = summary[i]
            print(f"  {'kos-processor' if i == 'kos' else 'Kafka Streams':14s} "
                  f"{s['records_s']:>9,.0f} records/s  RSS {s['rss_mib']:6.1f} MiB  "
                  f"peak {s['hwm_mib']:6.1f} MiB")
        if refused:
            results["throughput"][mode]["refused"] = refused
            print(f"  no ratio: the outputs differ from the expected sessions or from each "
                  f"other ({'; '.join(refused)})")
        elif "ref" in summary:
            ratio = summary["kos"]["records_s"] / summary["ref"]["records_s"]
            mem = summary["kos"]["rss_mib"] / summary["ref"]["rss_mib"]
            results["throughput"][mode]["ratio_records_s"] = ratio
            results["throughput"][mode]["ratio_rss"] = mem
            print(f"  ratio kos/ref: {ratio:.2f}x records/s (goal >= 3: "
                  f"{'met' if ratio >= 3 else 'MISSED'}), RSS {mem:.3f} (goal <= 0.1: "
                  f"{'met' if mem <= 0.1 else 'MISSED'}), identical output")
    return not refused


# --- rebalance pause ------------------------------------------------------------------------


class OutputWatch:
    """Timestamps (monotonic) every record appended to TOPIC from now on, per partition."""

    def __init__(self, bootstrap, topic):
        self.arrivals = []  # (t, partition)
        self.proc = subprocess.Popen(
            ["kcat", "-b", bootstrap, "-C", "-t", topic, "-o", "end", "-u", "-q",
             "-f", "%p\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self):
        for line in self.proc.stdout:
            if line.strip():
                self.arrivals.append((time.monotonic(), int(line)))

    def max_gap(self, t_from, t_to):
        """Longest time in [t_from, t_to] with no record on any partition."""
        ts = [t_from] + [t for t, _ in self.arrivals if t_from <= t <= t_to] + [t_to]
        gap, at = max((b - a, a) for a, b in zip(ts, ts[1:]))
        if os.environ.get("KOS_BENCH_DEBUG"):
            wall = time.time() - (time.monotonic() - at)
            print(f"    gap {gap:.3f} s from {time.strftime('%H:%M:%S', time.gmtime(wall))}"
                  f".{int(wall * 1000) % 1000:03d}Z")
        return gap

    def max_partition_gap(self, t_from, t_to):
        gaps = []
        for p in range(PARTITIONS):
            ts = [t_from] + [t for t, q in self.arrivals if q == p and t_from <= t <= t_to] + \
                [t_to]
            gaps.append(max(b - a for a, b in zip(ts, ts[1:])))
        return max(gaps)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def rebalance_once(kafka, impl, tag, rate):
    b = kafka.bootstrap
    rq, rs, out = f"rb-{tag}-rq", f"rb-{tag}-rs", f"rb-{tag}-out"
    for t in (rq, rs, out):
        kh.testkit("-b", b, "create-topic", t, PARTITIONS)

    def start(i):
        if impl == "kos":
            return kp.Processor(b, "--requests-topic", rq, "--responses-topic", rs,
                                "--sessions-topic", out, "-g", f"rb-{tag}",
                                env={"POD_NAME": f"rb-{tag}-{i}"}, name=f"rb-{tag}-{i}").start()
        return kp.StreamsRef(b, "--app-id", f"rb-{tag}", "--rq", rq, "--rs", rs,
                             "--out", out).start()

    def stop(p):
        return p.terminate() if impl == "kos" else p.stop()

    dg = kd.Datagen(b, "--requests-topic", rq, "--responses-topic", rs, "--rate", rate,
                    "--no-create-topics", "--stats-interval", 0).start()
    watch = OutputWatch(b, out)
    first = start(1)
    try:
        time.sleep(12)
        t_join = time.monotonic()
        second = start(2)
        time.sleep(12)
        t_leave = time.monotonic()
        stop(second)
        time.sleep(10)
        t_end = time.monotonic()
    finally:
        stop(first)
        dg.terminate()
        watch.stop()
    return {"steady_gap_s": watch.max_gap(t_join - 6, t_join),
            "join_pause_s": watch.max_gap(t_join, t_join + 10),
            "join_partition_pause_s": watch.max_partition_gap(t_join, t_join + 10),
            "leave_pause_s": watch.max_gap(t_leave, t_end),
            "leave_partition_pause_s": watch.max_partition_gap(t_leave, t_end)}


def bench_rebalance(kafka, args, results):
    impls = ["kos"] + (["ref"] if args.ref_rebalance and not args.skip_ref else [])
    print(f"rebalance: live input {args.rate} frames/s, a second process joins, then leaves")
    for impl in impls:
        rows = []
        for r in range(args.rounds):
            row = rebalance_once(kafka, impl, f"{impl}{r}", args.rate)
            rows.append(row)
            print(f"  round {r + 1} {impl}: no output anywhere for {row['join_pause_s']:.3f} s "
                  f"after the join (steady gap {row['steady_gap_s']:.3f} s; longest on one "
                  f"partition {row['join_partition_pause_s']:.3f} s); leave: "
                  f"{row['leave_pause_s']:.3f} s (one partition "
                  f"{row['leave_partition_pause_s']:.3f} s)", flush=True)
        s = {k: med([x[k] for x in rows]) for k in rows[0]}
        results["rebalance"][impl] = s
        print(f"  {impl} medians: join pause {s['join_pause_s']:.3f} s (goal < 1 s: "
              f"{'met' if impl != 'kos' or s['join_pause_s'] < 1 else 'MISSED'}), "
              f"steady gap {s['steady_gap_s']:.3f} s, leave pause {s['leave_pause_s']:.3f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=5000, help="frames/s of the rebalance input")
    ap.add_argument("--build-dir", default=os.environ.get("KOS_BUILD_DIR", "build"))
    ap.add_argument("--skip-ref", action="store_true")
    ap.add_argument("--ref-rebalance", action="store_true")
    ap.add_argument("--only", choices=("throughput", "rebalance"))
    ap.add_argument("--modes", default="alo,eos")
    ap.add_argument("--kos-args", default="", help="extra kos-processor flags (tuning runs)")
    ap.add_argument("--json", default=str(HERE / "results" / "processor.json"))
    args = ap.parse_args()
    os.environ["KOS_BUILD_DIR"] = str(Path(args.build_dir).resolve())
    os.environ.setdefault("KOS_TESTKIT", str(Path(args.build_dir).resolve() / "tests" / "tools" /
                                            "kos-testkit"))
    missing = kp.streams_ref_missing()
    if missing and not args.skip_ref:
        print(f"Kafka Streams reference unavailable ({missing}); use --skip-ref")
        return 2
    if not args.skip_ref:
        subprocess.run([str(kp.STREAMS_REF), "--build-only"], check=True)
    print(f"load average before start: {os.getloadavg()[0]:.2f} (keep the machine idle)")
    results = {"throughput": {}, "rebalance": {}, "frames": args.frames, "rounds": args.rounds}
    ok = True
    with kh.KafkaBroker(Path(os.environ.get("TMPDIR", "/tmp")) / f"kos-bench-proc-{os.getpid()}") \
            as kafka:
        pin_broker(kafka.workdir)
        if args.only in (None, "throughput"):
            ok = bench_throughput(kafka, args, results)
        if args.only in (None, "rebalance"):
            bench_rebalance(kafka, args, results)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
