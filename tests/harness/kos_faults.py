"""kos-adapter through a Kafka fault (tests/it/test_cluster.py, tests/bench/bench_faults.py):
a probe thread that reads one served metric and the adapter's /metrics many times a second and
keeps every answer, the checks of the adapter's contract over those answers, and the whole
leader-stop scenario on a KafkaCluster. Standard library only.

    with kh.KafkaCluster(tmp / "kafka", 3) as cluster:
        tl = kos_faults.leader_stop(cluster, certs, tmp, "lagging", "g-lead")
        assert tl["violations"] == [] and tl["refreshes_between_move_and_right"] <= 2
"""

import calendar
import contextlib
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import kos_adapter as ka
import kos_harness as kh


@dataclass
class Sample:
    t: float  # time.monotonic() when the answer arrived
    status: int  # HTTP status of the metric path (0: no answer at all)
    value: int = None  # the served value (sum over items) when status == 200
    items: int = 0  # number of items when status == 200
    snapshot_s: int = None  # the items' timestamp (whole seconds, epoch) when status == 200
    taken: float = None  # when the served snapshot was taken (epoch, ms precision), if known
    wall: float = 0.0  # time.time() when the answer arrived
    sent_wall: float = 0.0  # time.time() just before the metric path was asked
    refreshes_ok: int = None  # from /metrics, read right after the metric path
    refreshes_failed: int = None
    last_refresh_s: float = None  # duration of the last successful refresh
    error: str = ""

    @property
    def age(self):
        """Age of the served snapshot when the answer arrived: ms precision when known, else
        from the whole-second item timestamp (an upper bound)."""
        if self.taken is not None:
            return self.wall - self.taken
        if self.snapshot_s is not None:
            return self.wall - self.snapshot_s
        return None

    @property
    def age_at_request(self):
        """Age of the served snapshot when the request was sent: the adapter checks the bound
        later, so an answer this old was served past it (age itself also counts the answer's
        and a /metrics request's round trips)."""
        a = self.age
        return None if a is None else a - (self.wall - self.sent_wall)


def _metric(text, name):
    m = re.search(rf"^{re.escape(name)} ([-0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else None


def parse_k8s_time(s):
    """Epoch seconds of an RFC 3339 time as the adapter writes it (2024-01-02T03:04:05Z)."""
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


class Probe:
    """Reads PATH (a metric answering MetricValueList/ExternalMetricValueList) and /metrics of
    ADAPTER (kos_adapter.Adapter) every INTERVAL seconds in a thread; `samples` keeps them all.
    Errors (connection refused, timeouts) are samples with status 0, never exceptions.

    Each sample reads /metrics, then PATH, then /metrics again: when both /metrics reads saw the
    same snapshot (its age says when it was taken, to the millisecond), PATH was answered from
    it too, and `taken` says exactly how old the served value was."""

    def __init__(self, adapter, path, interval=0.05):
        self.adapter, self.path, self.interval = adapter, path, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _metrics(self):
        st, text = self.adapter.get("/metrics", raw=True)
        if st != 200:
            return None
        text = text.decode()
        age = _metric(text, "kos_adapter_snapshot_age_seconds")
        return {
            "taken": None if age is None or age < 0 else time.time() - age,
            "ok": int(_metric(text, 'kos_adapter_refreshes_total{result="ok"}')),
            "failed": int(_metric(text, 'kos_adapter_refreshes_total{result="failed"}')),
            "last_s": _metric(text, "kos_adapter_refresh_duration_seconds"),
        }

    def _one(self):
        s = Sample(t=0.0, status=0)
        try:
            m1 = self._metrics()
            s.sent_wall = time.time()
            st, body = self.adapter.get(self.path)
            s.status = st
            if st == 200:
                items = body["items"]
                s.items = len(items)
                s.value = sum(int(i["value"]) for i in items)
                if items:
                    s.snapshot_s = parse_k8s_time(items[0]["timestamp"])
            m2 = self._metrics()
            if m2:
                s.refreshes_ok, s.refreshes_failed = m2["ok"], m2["failed"]
                s.last_refresh_s = m2["last_s"]
            if (st == 200 and m1 and m2 and m1["taken"] and m2["taken"]
                    and abs(m1["taken"] - m2["taken"]) < 0.02
                    and s.snapshot_s == int(m2["taken"])):
                s.taken = m2["taken"]
        except Exception as e:  # noqa: BLE001 - a fault may refuse connections: that is data
            s.error = repr(e)[:200]
        s.t, s.wall = time.monotonic(), time.time()
        return s

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.samples.append(self._one())
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - t0)))

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def refresh_durations_ms(stderr_lines):
    """Durations of the successful refreshes in an adapter's -d log ("lag: refresh: ... X ms")."""
    out = []
    for line in stderr_lines:
        m = re.search(r" lag: refresh: .* ([0-9.]+) ms$", line)
        if m:
            out.append(float(m.group(1)))
    return out


def failed_refresh_durations_ms(stderr_lines):
    """Durations of the failed refreshes in an adapter's -d log ("refresh failed after X ms")."""
    out = []
    for line in stderr_lines:
        m = re.search(r" lag: refresh failed after ([0-9.]+) ms", line)
        if m:
            out.append(float(m.group(1)))
    return out


def leader_stop_timeline(samples, truth, t_fault, t_moved, max_staleness_s):
    """Checks the adapter's answers around a fault against its contract and returns the
    timeline (seconds relative to t_fault, monotonic) with the list of violations:
      * a 200 always serves `truth` (never 0, never another number) from a snapshot no older
        than max_staleness_s (+1 s where only the whole-second item timestamp is known);
      * anything else is a 503 (the snapshot is stale or a lag unknown);
      * the first right answer from a snapshot taken after t_moved (when the leaders of the
        lagging partitions had moved), and how many refreshes the adapter ran in between."""
    bad = []
    codes = {}
    first_503 = last_503 = None
    max_age = 0.0
    for s in samples:
        codes[s.status] = codes.get(s.status, 0) + 1
        if s.status == 200:
            slack = 0.0 if s.taken is not None else 1.0
            if s.value != truth:
                bad.append(f"t={s.t - t_fault:+.2f}s: served {s.value} ({s.items} items), "
                           f"truth {truth}")
            elif s.age is not None and s.age_at_request > max_staleness_s + slack:
                bad.append(f"t={s.t - t_fault:+.2f}s: served a snapshot "
                           f"{s.age_at_request:.2f}s old at the request (bound {max_staleness_s}s)")
            if s.taken is not None:
                max_age = max(max_age, s.age)
        elif s.status == 503:
            first_503 = s.t if first_503 is None else first_503
            last_503 = s.t
        else:
            bad.append(f"t={s.t - t_fault:+.2f}s: status {s.status} {s.error}")
    before = [s for s in samples if s.t <= t_moved and s.refreshes_ok is not None]
    refreshes_at_move = (before[-1].refreshes_ok + before[-1].refreshes_failed) if before else None
    right = None
    for s in samples:
        moved_wall = s.wall - (s.t - t_moved)
        if (s.t > t_moved and s.status == 200 and s.value == truth and s.taken is not None
                and s.taken >= moved_wall):
            right = s
            break
    refreshes_to_right = None
    if right is not None and refreshes_at_move is not None:
        # Counted after the value was read: the refresh that produced it is in, and at most one
        # more that finished in the few ms between the reads.
        refreshes_to_right = right.refreshes_ok + right.refreshes_failed - refreshes_at_move
    return {
        "answers_by_status": codes,
        "leader_moved_s": round(t_moved - t_fault, 3),
        "first_503_s": None if first_503 is None else round(first_503 - t_fault, 3),
        "last_503_s": None if last_503 is None else round(last_503 - t_fault, 3),
        "right_again_s": None if right is None else round(right.t - t_fault, 3),
        "right_again_after_move_s": None if right is None else round(right.t - t_moved, 3),
        "refreshes_between_move_and_right": refreshes_to_right,
        "max_served_age_s": round(max_age, 3),
        "violations": bad,
    }


def coordinator(bootstrap, group):
    """Node id of GROUP's coordinator, from ConsumerGroupCommand --describe --state."""
    out = kh.kafka_sh("cgc", "--bootstrap-server", bootstrap, "--describe", "--group", group,
                      "--state")
    m = re.search(r"^\s*\S+\s+\S+\s+\((\d+)\)", out, re.M)
    if not m:
        raise kh.CgcError(f"no coordinator in: {out!r}")
    return int(m.group(1))


class CgcLoop:
    """The anchor: ConsumerGroupCommand --describe run back to back in a thread; `runs` keeps
    (started, finished, total lag or None on an error), monotonic times."""

    def __init__(self, cluster, group):
        self.cluster, self.group, self.runs = cluster, group, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                rows = kh.cgc_describe_group(self.cluster.live_bootstrap(), self.group)
                total = sum(r["lag"] for r in rows) if rows and all(
                    r["lag"] is not None for r in rows) else None
            except Exception:  # noqa: BLE001 - the coordinator may be moving
                total = None
            self.runs.append((t0, time.monotonic(), total))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(60)

    def right_again_after(self, t_moved, truth):
        """Seconds from t_moved to the end of the first run started after it that was right."""
        for t0, t1, total in self.runs:
            if t0 >= t_moved and total == truth:
                return round(t1 - t_moved, 3)
        return None


def leader_stop(cluster, certs, workdir, topic, group, mode="stop", refresh_s=0.5,
                staleness_s=4, kafka_timeout_s=2, settle_s=None, anchor=False, adapter_args=()):
    """The leader-stop scenario on a running KafkaCluster: TOPIC (6 partitions, replicated on
    every node) with 15 records of lag per partition for GROUP, whose coordinator node also
    leads some of those partitions, and one member holding them all; a kos-adapter (direct
    HTTPS) probed 20 times a second on the group's external metric and the member's pods metric; that
    node stopped (mode "stop": SIGTERM, controlled shutdown) or killed ("kill": SIGKILL, fenced
    after broker.session.timeout.ms); then restarted and back in every ISR. Returns the
    timeline of leader_stop_timeline() plus refresh durations (and, with anchor, how long
    ConsumerGroupCommand took to be right after the move)."""
    b = cluster.bootstrap
    kh.testkit("-b", b, "create-topic", topic, 6)
    kh.wait_until(lambda: all(len(v["isr"]) == cluster.n for v in cluster.partitions(topic).values()),
                  what=f"{topic} fully in sync")
    for p in range(6):
        kh.testkit("-b", b, "produce", topic, p, 20)
    kh.testkit("-b", b, "commit", group, *(f"{topic}:{p}=5" for p in range(6)))
    truth = sum(r["lag"] for r in kh.cgc_describe_group(b, group))
    if truth != 6 * 15:
        raise AssertionError(f"scenario: CGC says {truth}, want 90")
    # A member holds every partition (it never commits): the pods metric of its client.id is
    # the group's lag too, and the group has members to describe.
    member = kh.GroupMember(b, group, f"pod-{group}", [topic])
    member.wait_assigned(6)
    victim = cluster.node(coordinator(b, group))
    led = [p for p, lead in cluster.leaders(topic).items() if lead == victim.node_id]
    if not led:
        raise AssertionError(f"node {victim.node_id} leads no partition of {topic}")
    path = ("/apis/external.metrics.k8s.io/v1beta1/namespaces/default/kafka_consumergroup_lag"
            f"?labelSelector=group%3D{group}")
    pods_path = ("/apis/custom.metrics.k8s.io/v1beta2/namespaces/default/pods/%2A/"
                 f"kafka_consumer_lag?metricLabelSelector=group%3D{group}")
    settle_s = settle_s if settle_s is not None else staleness_s + 4 * refresh_s + 2
    with ka.Adapter(certs, b, workdir=workdir,
                    args=["-d", "--refresh-interval", f"{int(refresh_s * 1000)}ms",
                          "--max-staleness", f"{staleness_s}s",
                          "--kafka-timeout", f"{kafka_timeout_s}s", *adapter_args]) as ad:
        kh.wait_until(lambda: ad.get(path)[1]["items"][0]["value"] == str(truth), timeout=20,
                      what="the group's lag served")
        kh.wait_until(lambda: ad.get(pods_path)[1]["items"][0]["value"] == str(truth),
                      timeout=20, what="the member's lag served")
        with Probe(ad, path) as probe, Probe(ad, pods_path) as pods_probe, \
                (CgcLoop(cluster, group) if anchor else contextlib.nullcontext()) as cgc:
            time.sleep(2)
            t_fault = time.monotonic()
            victim.stop() if mode == "stop" else victim.kill()
            t_stopped = time.monotonic()

            def moved():
                leaders = cluster.leaders(topic)
                return (all(leaders[p] not in (victim.node_id, -1) for p in led)
                        and coordinator(cluster.live_bootstrap(), group) != victim.node_id)
            kh.wait_until(moved, timeout=90, interval=0.1, what="leaders and coordinator moved")
            t_moved = time.monotonic()
            time.sleep(settle_s)
        tl = leader_stop_timeline(probe.samples, truth, t_fault, t_moved, staleness_s)
        tl["pods"] = leader_stop_timeline(pods_probe.samples, truth, t_fault, t_moved,
                                          staleness_s)
        ok_ms = refresh_durations_ms(ad.stderr_lines)
        failed_ms = failed_refresh_durations_ms(ad.stderr_lines)
        (Path(workdir) / f"adapter-{mode}.log").write_text("\n".join(ad.stderr_lines) + "\n")
        tl.update({
            "mode": mode, "victim": victim.node_id, "partitions_led": led, "truth": truth,
            "stop_took_s": round(t_stopped - t_fault, 3),
            "refresh_ok_ms_max": max(ok_ms) if ok_ms else None,
            "refresh_ok_ms_median": statistics.median(ok_ms) if ok_ms else None,
            "refreshes_ok": len(ok_ms), "refresh_failed_ms": failed_ms,
            "kafka_timeout_ms": kafka_timeout_s * 1000,
        })
        if anchor:
            tl["cgc_right_again_after_move_s"] = cgc.right_again_after(t_moved, truth)
            tl["cgc_runs"] = len(cgc.runs)
        victim.start()
    member.stop()
    kh.wait_until(lambda: all(len(v["isr"]) == cluster.n for v in cluster.partitions(topic).values()),
                  timeout=90, what=f"node {victim.node_id} back in every ISR of {topic}")
    return tl
