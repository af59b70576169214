"""The hostile consumer-group member of the security tests (tests/rogue-member): a real Kafka
4.3.1 Java consumer whose assignor hands out any partition lists, bad numbers included.

    with kos_rogue.RogueMember(kafka.bootstrap, "g", ["t1"], self_parts=[("t1", -2)]) as r:
        r.wait_ready()          # joined, leader, its own assignment received
"""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SH = REPO_ROOT / "tests" / "rogue-member" / "run.sh"

INT32_MAX = 2**31 - 1


def build():
    """Compiles the member once (seconds; the jars come from kafka.sh install)."""
    subprocess.run([str(RUN_SH), "--build-only"], check=True, timeout=300)


def _plist(parts):
    return ",".join(f"{t}:{p}" for t, p in parts)


class RogueMember:
    """run.sh as a child process. SELF_PARTS / OTHER_PARTS: [(topic, partition)] the member,
    as the group's leader, assigns to itself / to every other member; COMMITS: [(topic,
    partition, offset)] it tries to commit once assigned, with COMMIT_METADATA. PROTOCOL: the
    assignor's name."""

    def __init__(self, bootstrap, group, subscribe, self_parts=(), other_parts=(), commits=(),
                 commit_metadata="", protocol="rogue", cooperative=False, client_id="kos-rogue"):
        self.cmd = [str(RUN_SH), "--bootstrap", bootstrap, "--group", group, "--subscribe",
                    ",".join(subscribe), "--protocol", protocol, "--self", _plist(self_parts),
                    "--others", _plist(other_parts), "-X", f"client.id={client_id}"]
        if commits:
            self.cmd += ["--commit", ",".join(f"{t}:{p}={o}" for t, p, o in commits),
                         "--commit-metadata", commit_metadata]
        if cooperative:
            self.cmd.append("--cooperative")
        self._cv = threading.Condition()
        self.lines, self.err_lines = [], []
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.lines),
                                          daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr,
                                                                   self.err_lines), daemon=True)]
        for t in self._readers:
            t.start()

    def _read(self, pipe, into):
        for line in pipe:
            with self._cv:
                into.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def output(self):
        with self._cv:
            return "\n".join(self.lines), "\n".join(self.err_lines[-60:])

    def wait_line(self, pred, timeout=120.0, what="line"):
        """Waits for a stdout line PRED accepts; returns it."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                if self.proc.poll() is not None:
                    raise AssertionError(f"rogue member exited ({self.proc.returncode}) before "
                                         f"{what}:\n" + "\n".join(self.lines + self.err_lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"rogue member: no {what} in {timeout:g}s:\n"
                                         + "\n".join(self.lines + self.err_lines[-40:]))
                self._cv.wait(min(left, 0.5))

    def wait_ready(self, timeout=120.0):
        self.wait_line(lambda line: line == "ready", timeout, "ready")

    def count(self, prefix):
        with self._cv:
            return sum(1 for line in self.lines if line.startswith(prefix))

    def stop(self, timeout=20.0):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for t in self._readers:
            t.join(5)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
