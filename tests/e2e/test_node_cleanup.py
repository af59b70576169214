"""tests/harness/node.sh cleans up after itself, and after a run that was killed with SIGKILL:
a run's network namespace, its containerd and shim, its containers (found by the node's runc
root and cgroup root), its cgroups and its state directory are gone after `node.sh cleanup` (and
so when the next `node.sh run` starts), and a normal run leaves nothing behind. No control plane:
containerd and one sandbox-image container are enough to leave every kind of leftover."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_SH = REPO / "tests" / "harness" / "node.sh"
BUILD = REPO / "scripts" / "build-image.sh"
CACHE = Path(os.environ.get("KOS_CACHE") or Path.home() / ".cache" / "kos")
RUNS = CACHE / "node" / "runs"

# Inside the run: containerd, the pause image, one container where the CRI plugin puts a pod's
# (cgroup /k8s.io/<id>, containerd's own runc root), then wait.
INNER = r"""
set -euo pipefail
source "$NODE_SH"
inside
write_containerd_config
make_cgroup_root
launch containerd containerd --config "$R/containerd.toml" --log-level warn
wait_for containerd 30 CTR version
cmd_import "$KOS_CACHE_DIR/image/pause.tar"
CTR run -d "$PAUSE_IMAGE" "leftover-$KOS_NODE_NETNS" >/dev/null
CTR tasks ls >"$R/tasks"
echo "$KOS_NODE_NETNS" >"$READY"
sleep 600
"""


def netns_list():
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return {line.split()[0] for line in p.stdout.splitlines() if line.strip()}


def procs_mentioning(text):
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if text in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def cgroup_dirs(name):
    return [d for d in Path("/sys/fs/cgroup").glob(f"*/{name}") if d.is_dir()] + \
        [d for d in Path("/sys/fs/cgroup").glob(f"*/k8s.io/leftover-{name}") if d.is_dir()]


def start_run(tmp_path):
    subprocess.run([BUILD, "--pause"], check=True, capture_output=True, timeout=300)
    ready = tmp_path / "ready"
    env = dict(os.environ, NODE_SH=str(NODE_SH), READY=str(ready), KOS_CACHE_DIR=str(CACHE))
    p = subprocess.Popen([NODE_SH, "run", "--", "bash", "-c", INNER], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert p.poll() is None, p.stdout.read().decode(errors="replace")
        assert time.monotonic() < deadline, "the run never got ready"
        time.sleep(0.2)
    name = ready.read_text().strip()
    run = RUNS / name
    assert "RUNNING" in (run / "tasks").read_text()
    return p, name, run


def assert_gone(name, run):
    assert name not in netns_list()
    assert not run.exists(), list(run.iterdir())
    assert procs_mentioning(str(run)) == []
    assert cgroup_dirs(name) == []


def test_a_killed_run_is_cleaned_up_by_the_next(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("node.sh needs root")  # prerequisite that cannot exist for a non-root user
    p, name, run = start_run(tmp_path)
    pids = procs_mentioning(str(run))
    assert pids, "containerd should run with the run's config"
    leftover = [int(line.split()[1]) for line in (run / "tasks").read_text().splitlines()[1:]]
    assert leftover and all(Path(f"/proc/{x}").exists() for x in leftover)
    # kill -9 of the wrapper: its EXIT trap cannot run; everything it started lives on
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    time.sleep(1)
    assert name in netns_list() and run.exists()
    assert all(Path(f"/proc/{x}").exists() for x in leftover)
    # what the next run does first
    out = subprocess.run([NODE_SH, "cleanup"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"removing leftovers of run {name}" in out.stderr
    assert not any(Path(f"/proc/{x}").exists() for x in leftover)
    assert_gone(name, run)
    # and a run that ends normally leaves nothing either
    done = subprocess.run([NODE_SH, "run", "--", "bash", "-c", "echo $KOS_NODE_NETNS; exit 3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr  # the command's status comes through
    assert_gone(done.stdout.strip(), RUNS / done.stdout.strip())


def test_a_terminated_run_removes_everything(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("node.sh needs root")
    p, name, run = start_run(tmp_path)
    p.send_signal(signal.SIGTERM)  # ctest's timeout, Ctrl-C: the wrapper's trap tears down
    p.wait(60)
    assert_gone(name, run)
