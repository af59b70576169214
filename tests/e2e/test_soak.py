"""A 60 s soak of kos-adapter (the 10-minute one is tests/bench/bench_faults.py): mixed load
through the aggregator and direct (vegeta, three clients at constant rates), with a Kafka
broker restart, a kube-apiserver restart and a serving-certificate rotation in the middle.
Promises: no error outside the expected windows (each defined, with the errors it allows, in
tests/harness/kos_soak.py and printed), never a 0 or an empty answer for a group with lag, the
rotated certificate served after the restart, the lag equal to ConsumerGroupCommand at the end,
and the adapter's RSS (net of the state its open client connections hold, 96 KiB each: see
kos_soak.flatness) and open fds (without client connections) flat, growth < 5 % from a 6 s
warm-up to the restart, across the broker and apiserver restarts; no socket in CLOSE_WAIT."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_soak  # noqa: E402


def test_soak_60s(tmp_path):
    # RSS/fds: from 6-10 s into the load (before the first fault, at 12 s) to the last 4 s
    # before the restart that loads the rotated certificate (45 s): both other faults between.
    res = kos_soak.run(tmp_path / "soak", 60, tmp_path / "soak.png", warmup_s=6, tail_s=4,
                       fault_at=(0.2, 0.4, 0.75))
    shown = {k: v for k, v in res.items() if k not in ("unexpected_samples", "zero_samples")}
    print(json.dumps(shown, indent=1))
    assert kos_soak.check(res) == [], json.dumps(res, indent=1)
