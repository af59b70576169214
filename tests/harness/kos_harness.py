"""Helpers for kos integration tests (tests/it, tests/bench): a real Kafka broker (or a cluster
of them, KafkaCluster) via kafka.sh, consumer-group tables from Kafka's own ConsumerGroupCommand
as the reference, and the kos-testkit C tool for fast scenario setup. Standard library only.

Typical use from a test file (tests/it/test_x.py):

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
    import kos_harness as kh

    def test_lag(tmp_path):
        with kh.KafkaBroker(tmp_path / "kafka") as kafka:
            kh.testkit("-b", kafka.bootstrap, "create-topic", "t", 3)
            kh.testkit("-b", kafka.bootstrap, "produce", "t", 0, 10)
            kh.testkit("-b", kafka.bootstrap, "commit", "g", "t:0=4")
            assert kh.cgc_describe_group(kafka.bootstrap, "g")[0]["lag"] == 6

    def test_failover(tmp_path):
        with kh.KafkaCluster(tmp_path / "kafka", 3) as cluster:   # 3 nodes, replication 3
            kh.testkit("-b", cluster.bootstrap, "create-topic", "t", 3)
            node = cluster.node(cluster.leaders("t")[0])
            node.stop()                                         # or node.kill(): a crash
            ...                                                 # leaders move; clients go on
            node.start()                                        # same address, rejoins

What ConsumerGroupCommand of Kafka 4.3.1 prints (checked against a real broker; the parser
below relies on it):
  * Table columns: GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST
    CLIENT-ID, left-aligned, one header per group, groups separated by a blank line.
  * Group with committed offsets but no members: rows with CONSUMER-ID, HOST, CLIENT-ID "-";
    "Consumer group 'g' has no active members." goes to stderr.
  * Group with no offsets and no members (members left without committing): no table at all
    on stdout, only the stderr line above; rows == [].
  * Partition held by a member but never committed: CURRENT-OFFSET "-" and LAG "-", the
    LOG-END-OFFSET is a number. Partitions neither committed nor assigned are not listed.
  * Deleted topic: the group coordinator drops the group's offsets for it, so its rows vanish;
    a group whose only offsets were on that topic then looks like the empty case above.
  * Unknown group: exit status 0 (!) with "Error: Executing consumer group command failed due
    to ...GroupIdNotFoundException: Group g not found." on stdout; raised here as CgcError.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO_ROOT / "tests" / "harness" / "kafka.sh"

# Broker start is capped at 90 s inside kafka.sh; format and a possible jar download add more.
START_TIMEOUT_S = 300
TOOL_TIMEOUT_S = 120


class CommandError(RuntimeError):
    """A harness command exited non-zero; carries its output for the test report."""

    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd, self.returncode, self.stdout, self.stderr = cmd, returncode, stdout, stderr
        super().__init__(
            f"command failed (exit {returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        )


class CgcError(RuntimeError):
    """ConsumerGroupCommand reported an error (it often still exits 0)."""


def _run(cmd, timeout, env=None):
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as e:
        raise CommandError(cmd, "timeout", e.stdout or "", e.stderr or "") from None
    if p.returncode != 0:
        raise CommandError(cmd, p.returncode, p.stdout, p.stderr)
    return p


def kafka_sh(*args, timeout=TOOL_TIMEOUT_S):
    """Runs tests/harness/kafka.sh with ARGS; returns its stdout."""
    return _run([KAFKA_SH, *args], timeout).stdout


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout=30.0, interval=0.2, what="condition"):
    """Polls PRED until it returns a truthy value, which is returned. Exceptions from PRED count
    as "not yet" (a broker may be restarting); the last one is named in the AssertionError
    raised after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_exc = e
        if time.monotonic() >= deadline:
            msg = f"timed out after {timeout:g}s waiting for {what}"
            if last_exc is not None:
                msg += f" (last error: {last_exc!r})"
            raise AssertionError(msg)
        time.sleep(interval)


class KafkaBroker:
    """A single-node KRaft broker whose config, data and log live in WORKDIR.

    start() is idempotent, stop() too; restart() keeps data and the address (kafka.sh picks the
    ports once per WORKDIR). As a context manager it starts on entry and always stops on exit.
    A watcher started by kafka.sh stops the broker if this Python process dies without cleanup.
    """

    def __init__(self, workdir):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.start_seconds = None  # wall time of the last start(), for reports

    @property
    def bootstrap(self):
        f = self.workdir / "bootstrap"
        if not f.exists():
            raise RuntimeError(f"broker in {self.workdir} was never started")
        return f.read_text().strip()

    @property
    def log_path(self):
        return self.workdir / "broker.log"

    def log_tail(self, lines=40):
        try:
            return "".join(self.log_path.read_text(errors="replace").splitlines(True)[-lines:])
        except FileNotFoundError:
            return ""

    def start(self):
        env = dict(os.environ, KAFKA_OWNER_PID=str(os.getpid()))
        t0 = time.monotonic()
        out = _run([KAFKA_SH, "start", self.workdir], START_TIMEOUT_S, env=env).stdout
        self.start_seconds = time.monotonic() - t0
        return out.strip()

    def stop(self):
        """SIGTERM: a controlled shutdown (leadership moves before the broker exits)."""
        _run([KAFKA_SH, "stop", self.workdir], 60)

    def kill(self):
        """SIGKILL: a crash; in a cluster the controller fences the node only after
        broker.session.timeout.ms (9 s), its partitions are leaderless until then."""
        _run([KAFKA_SH, "kill", self.workdir], 60)

    @property
    def running(self):
        f = self.workdir / "pid"
        if not f.exists():
            return False
        try:
            stat = Path(f"/proc/{int(f.read_text())}/stat").read_text()
        except (FileNotFoundError, ValueError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    @property
    def pid(self):
        return int((self.workdir / "pid").read_text()) if self.running else None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._stop_quietly()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self._stop_quietly()  # never mask the test's own failure

    def _stop_quietly(self):
        try:
            self.stop()
        except Exception as e:  # noqa: BLE001
            print(f"kos_harness: stopping broker in {self.workdir} failed: {e}")


class KafkaNode(KafkaBroker):
    """One node of a KafkaCluster (broker and controller): start/stop/kill/restart it alone; it
    comes back at the same address with its data and rejoins the cluster."""

    def __init__(self, workdir, node_id):
        super().__init__(workdir)
        self.node_id = node_id

    def __repr__(self):
        return f"KafkaNode({self.node_id}, {self.workdir})"


class KafkaCluster:
    """N KRaft nodes on 127.0.0.1 (kafka.sh cluster-start), state in WORKDIR/node-1..N.

    Every node is broker and controller and a voter of a static quorum: the cluster keeps a
    quorum, and topics (default replication min(N, 3), min.insync.replicas one less, internal
    topics too) stay writable, with any one node stopped. `nodes[k]` (node id k+1) stops,
    kills and restarts alone at its own address. As a context manager the cluster starts on
    entry and every node stops on exit; a watcher per node stops it if this process dies.
    """

    def __init__(self, workdir, n=3):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.n = n
        self.nodes = [KafkaNode(self.workdir / f"node-{i}", i) for i in range(1, n + 1)]
        self.start_seconds = None

    @property
    def bootstrap(self):
        """All nodes' addresses, comma-separated (clients find the live ones)."""
        f = self.workdir / "bootstrap"
        if not f.exists():
            raise RuntimeError(f"cluster in {self.workdir} was never started")
        return f.read_text().strip()

    def node(self, node_id):
        return self.nodes[node_id - 1]

    def live_bootstrap(self):
        """Addresses of the nodes running now."""
        return ",".join(nd.bootstrap for nd in self.nodes if nd.running)

    def start(self):
        env = dict(os.environ, KAFKA_OWNER_PID=str(os.getpid()))
        t0 = time.monotonic()
        out = _run([KAFKA_SH, "cluster-start", self.workdir, self.n], START_TIMEOUT_S,
                   env=env).stdout
        self.start_seconds = time.monotonic() - t0
        return out.strip()

    def stop(self):
        _run([KAFKA_SH, "stop", self.workdir], 90)

    def metadata(self, timeout=10):
        """Cluster metadata as a live node sees it (kcat -L -J): {"brokers": [{"id", "name"}],
        "topics": [{"topic", "partitions": [{"partition", "leader", "replicas", "isrs"}]}]}."""
        out = _run(["kcat", "-b", self.live_bootstrap(), "-L", "-J", "-m", str(timeout)],
                   timeout + 5).stdout
        return json.loads(out)

    def partitions(self, topic):
        """{partition: {"leader": id, "replicas": [ids], "isr": [ids]}} of TOPIC."""
        for t in self.metadata()["topics"]:
            if t["topic"] == topic:
                return {
                    p["partition"]: {
                        "leader": p["leader"],
                        "replicas": sorted(r["id"] for r in p.get("replicas", [])),
                        "isr": sorted(r["id"] for r in p.get("isrs", [])),
                    }
                    for p in t["partitions"]
                }
        raise KeyError(f"topic {topic} not in the metadata")

    def leaders(self, topic):
        """{partition: leader node id} (-1: no leader right now)."""
        return {p: v["leader"] for p, v in self.partitions(topic).items()}

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self._stop_quietly()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self._stop_quietly()

    def _stop_quietly(self):
        try:
            self.stop()
        except Exception as e:  # noqa: BLE001
            print(f"kos_harness: stopping cluster in {self.workdir} failed: {e}")


# --- ConsumerGroupCommand -------------------------------------------------------------------

_INT_COLUMNS = {"partition", "current_offset", "log_end_offset", "lag"}


def _key(name):
    return name.lower().replace("-", "_")


class CgcRow(dict):
    """One row of `--describe`; keys are snake_case (current_offset), but the CGC header
    spelling (CURRENT-OFFSET) works too. "-" is None; numeric columns are ints."""

    def __getitem__(self, k):
        return super().__getitem__(_key(k))

    def get(self, k, default=None):
        return super().get(_key(k), default)

    def __contains__(self, k):
        return super().__contains__(_key(k))


def parse_cgc_describe(text):
    """Parses the stdout of `ConsumerGroupCommand --describe` into a list of CgcRow."""
    rows, header = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("Error:"):
            raise CgcError(line.strip())
        words = line.split()
        if words[:2] == ["GROUP", "TOPIC"]:
            header = [_key(w) for w in words]
            continue
        if header is None:
            raise CgcError(f"unexpected ConsumerGroupCommand output before a header: {line!r}")
        # Only the last column (CLIENT-ID) could hold spaces; an empty one leaves it out.
        vals = line.split(None, len(header) - 1)
        if len(vals) < len(header) - 1:
            raise CgcError(f"short ConsumerGroupCommand row {line!r} for header {header}")
        vals += [""] * (len(header) - len(vals))
        row = CgcRow()
        for k, v in zip(header, vals):
            v = v.strip()
            if v == "-":
                row[k] = None
            elif k in _INT_COLUMNS:
                row[k] = int(v)
            else:
                row[k] = v
        rows.append(row)
    return rows


def _cgc_describe(bootstrap, *selector):
    out = kafka_sh("cgc", "--bootstrap-server", bootstrap, "--describe", *selector)
    return parse_cgc_describe(out)


def cgc_describe_all(bootstrap):
    """Rows of `kafka-consumer-groups --describe --all-groups`."""
    return _cgc_describe(bootstrap, "--all-groups")


def cgc_describe_group(bootstrap, group):
    """Rows of `kafka-consumer-groups --describe --group GROUP`; [] for a group without offsets
    or members; CgcError if the group does not exist."""
    return _cgc_describe(bootstrap, "--group", group)


# --- kos-testkit ----------------------------------------------------------------------------


def testkit_path():
    p = os.environ.get("KOS_TESTKIT") or str(REPO_ROOT / "build" / "tests" / "tools" / "kos-testkit")
    if not os.access(p, os.X_OK):
        raise FileNotFoundError(
            f"kos-testkit not found at {p}; build it (ninja kos-testkit) or set KOS_TESTKIT"
        )
    return p


def testkit(*args, timeout=TOOL_TIMEOUT_S):
    """Runs kos-testkit with ARGS (converted with str); returns stdout, raises CommandError."""
    return _run([testkit_path(), *args], timeout).stdout


# Test files may `from kos_harness import testkit`; keep pytest from collecting these as tests.
testkit.__test__ = False
testkit_path.__test__ = False


class GroupMember:
    """A `kos-testkit member` process: joins GROUP as CLIENT_ID, subscribes to TOPICS, holds its
    partitions without committing until stop(). Use as a context manager or call stop()."""

    def __init__(self, bootstrap, group, client_id, topics, extra_args=()):
        if isinstance(topics, str):
            topics = [topics]
        self.cmd = [testkit_path(), "-b", bootstrap, *extra_args, "member", group, client_id,
                    ",".join(topics)]
        self._cv = threading.Condition()
        self._assignment = None  # latest set of (topic, partition), None before the first
        self._stdout, self._stderr = [], []
        self.proc = subprocess.Popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )
        # Drain both pipes so a chatty librdkafka can never block the member on a full pipe.
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read(self, pipe, is_stdout):
        for line in pipe:
            with self._cv:
                (self._stdout if is_stdout else self._stderr).append(line)
                if is_stdout:
                    words = line.split()
                    if words and words[0] == "assigned":
                        self._assignment = {
                            (tp.rsplit(":", 1)[0], int(tp.rsplit(":", 1)[1])) for tp in words[1:]
                        }
                    elif words and words[0] == "revoked":
                        self._assignment = set()
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    @property
    def assignment(self):
        with self._cv:
            return set(self._assignment or ())

    def output(self):
        with self._cv:
            return "".join(self._stdout), "".join(self._stderr)

    def wait_assigned(self, min_partitions=1, timeout=30.0):
        """Waits until the latest rebalance gave this member at least MIN_PARTITIONS; returns
        the assignment as a set of (topic, partition)."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._assignment is None or len(self._assignment) < min_partitions:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"member exited with {self.proc.returncode} before assignment; "
                        f"stderr:\n{''.join(self._stderr)}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"member {self.cmd[-2]} got no assignment of >= {min_partitions} "
                        f"partitions in {timeout:g}s; stdout:\n{''.join(self._stdout)}"
                        f"stderr:\n{''.join(self._stderr)}"
                    )
                self._cv.wait(min(left, 0.5))
            return set(self._assignment)

    def stop(self, timeout=15.0):
        """SIGTERM (leaves the group cleanly), SIGKILL after TIMEOUT; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._readers:
            t.join(5)
        return self.proc.returncode

    def kill(self):
        """SIGKILL: the member vanishes without leaving; the broker keeps it until the session
        timeout (librdkafka default 45 s; pass extra_args=("-X", "session.timeout.ms=6000"))."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for t in self._readers:
            t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
