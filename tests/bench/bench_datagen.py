#!/usr/bin/env python3
"""Benchmarks of kos-datagen against a local single-node Kafka broker (not part of ctest).

1. Max throughput with acks=all: kos-datagen at --rate max (real frames: requests plus ~100/101
   responses, keyed, idempotent) side by side with Kafka's own ProducerPerformance at the same
   record size (the mean key+value size of a datagen record), acks, total partition count,
   linger.ms, batch size and compression. Alternating rounds; medians; ratio kos/anchor.
   The anchor runs twice: as `kafka.sh tool` starts it (C1-only JIT, 256 MiB heap, the
   harness's tool settings) and with the JVM's default JIT and a 1 GiB heap, so the ratio is
   shown against both.
2. CPU per 10k frames/s at fixed rates (utime+stime from /proc/PID/stat over a window after
   warm-up) and peak RSS (VmHWM); ProducerPerformance at the same record rate for reference.

Usage: tests/bench/bench_datagen.py [--rounds 3] [--seconds 10] [--build-dir build]
Keep the machine otherwise idle while it runs (about 6 minutes).
"""

import argparse
import glob
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "harness"))
import kos_datagen as kd  # noqa: E402
import kos_harness as kh  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
PARTITIONS = 4  # per datagen topic; the anchor's single topic gets 2 x this
# The same batching and compression for both producers.
LINGER_MS = 5
BATCH_SIZE = 262144
KOS_PROPS = ["-X", f"linger.ms={LINGER_MS}", "-X", f"batch.size={BATCH_SIZE}",
             "-X", "compression.codec=none", "-X", "acks=all"]
PP_PROPS = [f"linger.ms={LINGER_MS}", f"batch.size={BATCH_SIZE}", "compression.type=none",
            "acks=all"]
PP_LINE = re.compile(r"^(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)", re.M)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat(5))


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def watch(proc, on_tick=None):
    """Waits for PROC while sampling VmHWM (its last value before exit is the peak)."""
    hwm = 0
    while proc.poll() is None:
        hwm = max(hwm, vm_hwm_kib(proc.pid))
        if on_tick:
            on_tick()
        time.sleep(0.1)
    return hwm


def fresh_topic(bootstrap, name, partitions):
    kh.testkit("-b", bootstrap, "create-topic", name, partitions)


def drop_topics(bootstrap, *names):
    for n in names:
        kh.testkit("-b", bootstrap, "delete-topic", n)


def mean_record_size(bootstrap):
    rq, rs = "size-rq", "size-rs"
    rc, _, err = kd.run(bootstrap, "--rate", 0, "--count", 20000, "--seed", 1,
                        "--requests-topic", rq, "--responses-topic", rs)
    assert rc == 0, err
    recs = kd.read_topic(bootstrap, rq) + kd.read_topic(bootstrap, rs)
    drop_topics(bootstrap, rq, rs)
    return round(sum(len(r.key) + len(r.value) for r in recs) / len(recs))


def kos_max(bootstrap, tag, seconds):
    rq, rs = f"kos-{tag}-rq", f"kos-{tag}-rs"
    cmd = [kd.datagen_path(), "-b", bootstrap, "--no-http", "--stats-interval", "0",
           "--rate", "0", "--duration", f"{seconds}s", "--partitions", str(PARTITIONS),
           "--requests-topic", rq, "--responses-topic", rs, *KOS_PROPS]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hwm = watch(p)
    err = p.stderr.read()
    rep = kd.report_of(err)
    assert p.returncode == 0 and rep and rep["failed"] == 0, err
    drop_topics(bootstrap, rq, rs)
    return {"rec_s": rep["acked"] / rep["seconds"],
            "mib_s": rep["acked_bytes"] / rep["seconds"] / 2**20,
            "frames_s": rep["frames"] / rep["seconds"], "hwm_mib": hwm / 1024}


def kafka_libs():
    cache = os.environ.get("KOS_CACHE", os.path.expanduser("~/.cache/kos"))
    libs = sorted(glob.glob(f"{cache}/kafka-*/libs"))
    assert libs, "Kafka jars not installed (tests/harness/kafka.sh install)"
    return libs[-1]


def pp_cmd(full_jit):
    main = "org.apache.kafka.tools.ProducerPerformance"
    if not full_jit:
        return [str(kh.KAFKA_SH), "tool", main]
    log4j = HERE.parent / "harness" / "kafka" / "tools-log4j2.properties"
    return ["java", "-Xmx1g", "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}",
            "-cp", f"{kafka_libs()}/*", main]


def pp_run(bootstrap, tag, full_jit, num_records, size, throughput=-1, on_tick=None):
    topic = f"pp-{tag}"
    fresh_topic(bootstrap, topic, 2 * PARTITIONS)
    cmd = pp_cmd(full_jit) + [
        "--topic", topic, "--num-records", str(num_records), "--record-size", str(size),
        "--throughput", str(throughput), "--producer-props", f"bootstrap.servers={bootstrap}",
        *PP_PROPS]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    hwm = watch(p, on_tick and (lambda: on_tick(p)))
    out = p.stdout.read()
    assert p.returncode == 0, out
    m = PP_LINE.findall(out)[-1]
    drop_topics(bootstrap, topic)
    return {"rec_s": float(m[1]), "mib_s": float(m[2]), "hwm_mib": hwm / 1024}


def kos_fixed(bootstrap, tag, rate, warmup, window):
    """CPU share of one core and VmHWM of kos-datagen at RATE frames/s."""
    rq, rs = f"fix-{tag}-rq", f"fix-{tag}-rs"
    cmd = [kd.datagen_path(), "-b", bootstrap, "--no-http", "--stats-interval", "0",
           "--rate", str(rate), "--partitions", str(PARTITIONS), "--requests-topic", rq,
           "--responses-topic", rs, *KOS_PROPS]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(warmup)
    c0, t0 = cpu_ticks(p.pid), time.monotonic()
    time.sleep(window)
    c1, t1 = cpu_ticks(p.pid), time.monotonic()
    hwm = vm_hwm_kib(p.pid)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    err = p.stderr.read()
    rep = kd.report_of(err)
    assert p.returncode == 0 and rep and rep["failed"] == 0, err
    drop_topics(bootstrap, rq, rs)
    cores = (c1 - c0) / TICK / (t1 - t0)
    return {"core_per_10k": cores / (rate / 10000), "hwm_mib": hwm / 1024,
            "rec_per_frame": rep["acked"] / max(rep["frames"], 1)}


def pp_fixed(bootstrap, tag, records_s, size, warmup, window):
    """CPU share of ProducerPerformance (full JIT) at RECORDS_S records/s, after warm-up."""
    state = {}

    def sample(p):
        now = time.monotonic()
        state.setdefault("start", now)
        el = now - state["start"]
        if "c0" not in state and el >= warmup:
            state["c0"], state["t0"] = cpu_ticks(p.pid), now
        if "c1" not in state and el >= warmup + window:
            state["c1"], state["t1"] = cpu_ticks(p.pid), now

    n = int(records_s * (warmup + window + 2))
    r = pp_run(bootstrap, tag, True, n, size, throughput=records_s, on_tick=sample)
    cores = (state["c1"] - state["c0"]) / TICK / (state["t1"] - state["t0"])
    return {"core_per_10k_rec": cores / (records_s / 10000), "hwm_mib": r["hwm_mib"]}


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10, help="length of each max-rate run")
    ap.add_argument("--build-dir", default=os.environ.get("KOS_BUILD_DIR"))
    ap.add_argument("--skip-cpu", action="store_true")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["KOS_BUILD_DIR"] = str(Path(args.build_dir).resolve())
    os.environ.setdefault("KOS_TESTKIT", str(kd.build_dir() / "tests" / "tools" / "kos-testkit"))
    print(f"load average before start: {os.getloadavg()[0]:.2f} (keep the machine idle)")

    with tempfile.TemporaryDirectory(prefix="kos-bench-datagen-") as tmp, \
            kh.KafkaBroker(Path(tmp) / "kafka") as kafka:
        b = kafka.bootstrap
        size = mean_record_size(b)
        print(f"broker {b}; mean datagen record (key+value) {size} bytes; acks=all, "
              f"linger.ms={LINGER_MS}, batch.size={BATCH_SIZE}, no compression; kos: 2 topics x "
              f"{PARTITIONS} partitions, anchor: 1 topic x {2 * PARTITIONS}")

        # Warm the broker (page cache, JIT) so round 1 is not the odd one out.
        kos_max(b, "warm", 3)
        kos_rows, ppa_rows, ppb_rows = [], [], []
        for r in range(args.rounds):
            runs = [("kos", lambda: kos_rows.append(kos_max(b, f"r{r}", args.seconds))),
                    ("pp-tool", None), ("pp-jit", None)]
            # The anchor's record count is sized from this round's kos rate: both run ~equally
            # long.
            order = [0, 1, 2] if r % 2 == 0 else [1, 2, 0]
            for i in order:
                name = runs[i][0]
                if name == "kos":
                    runs[i][1]()
                    row = kos_rows[-1]
                else:
                    ref = kos_rows[-1]["rec_s"] if kos_rows else 400000
                    n = int(ref * args.seconds)
                    rows = ppa_rows if name == "pp-tool" else ppb_rows
                    rows.append(pp_run(b, f"{name}-r{r}", name == "pp-jit", n, size))
                    row = rows[-1]
                print(f"  round {r + 1} {name:8s} {row['rec_s']:>11,.0f} rec/s "
                      f"{row['mib_s']:7.1f} MiB/s  VmHWM {row['hwm_mib']:6.1f} MiB", flush=True)

        print()
        print(f"Max throughput, acks=all, medians of {args.rounds} rounds")
        print(f"{'producer':34s} {'records/s':>11s} {'MiB/s':>7s} {'frames/s':>10s} "
              f"{'VmHWM MiB':>9s}")
        k_rec, k_mib = med(kos_rows, "rec_s"), med(kos_rows, "mib_s")
        print(f"{'kos-datagen (real frames, keyed)':34s} {k_rec:>11,.0f} {k_mib:7.1f} "
              f"{med(kos_rows, 'frames_s'):>10,.0f} {med(kos_rows, 'hwm_mib'):9.1f}")
        for label, rows in (("ProducerPerformance (kafka.sh tool)", ppa_rows),
                            ("ProducerPerformance (default JIT)", ppb_rows)):
            print(f"{label:34s} {med(rows, 'rec_s'):>11,.0f} {med(rows, 'mib_s'):7.1f} "
                  f"{'-':>10s} {med(rows, 'hwm_mib'):9.1f}")
        print(f"ratio kos/anchor (records/s): {k_rec / med(ppa_rows, 'rec_s'):.2f} vs kafka.sh "
              f"tool, {k_rec / med(ppb_rows, 'rec_s'):.2f} vs default JIT (goal >= 1.0)")

        if args.skip_cpu:
            return
        print()
        print("CPU at a fixed rate (share of one core per 10k frames/s; a frame is ~1.99 "
              "records)")
        fixed = {}
        for r in range(args.rounds):
            for rate in (10000, 50000):
                row = kos_fixed(b, f"{rate}-r{r}", rate, warmup=3, window=10)
                fixed.setdefault(rate, []).append(row)
                print(f"  round {r + 1} kos {rate:>6} frames/s: {row['core_per_10k']:.3f} "
                      f"core/10k, VmHWM {row['hwm_mib']:.1f} MiB", flush=True)
            row = pp_fixed(b, f"fixed-r{r}", 20000, size, warmup=4, window=10)
            fixed.setdefault("pp", []).append(row)
            print(f"  round {r + 1} ProducerPerformance 20000 rec/s: "
                  f"{row['core_per_10k_rec']:.3f} core/10k rec", flush=True)
        print()
        print(f"{'at':34s} {'core per 10k frames/s':>22s} {'VmHWM MiB':>9s}")
        for rate in (10000, 50000):
            rows = fixed[rate]
            print(f"{'kos-datagen ' + str(rate) + ' frames/s':34s} "
                  f"{med(rows, 'core_per_10k'):22.3f} {med(rows, 'hwm_mib'):9.1f}")
        pp = fixed["pp"]
        print(f"{'ProducerPerformance 20000 rec/s':34s} "
              f"{med(pp, 'core_per_10k_rec') * 1.99:22.3f} {med(pp, 'hwm_mib'):9.1f}"
              "   (same records/s as 10k frames/s)")
        print(f"RSS goal <= 32 MiB: {'met' if med(fixed[10000], 'hwm_mib') <= 32 else 'MISSED'} "
              f"at fixed rate; {med(kos_rows, 'hwm_mib'):.1f} MiB at max rate")


if __name__ == "__main__":
    main()
