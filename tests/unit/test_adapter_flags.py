"""kos-adapter's flags three ways (ctest unit.adapter_flags): the flags `kos-adapter --help`
lists, the flags its parser accepts and the README's adapter flags table are the same set, and a
bad value of each kind exits 2 with an error naming the flag. (The parser and --help are made
from one table in adapter/options.c; tests/unit/test_options.c checks the table against the
text; here the built program is run.) KOS_ADAPTER: the binary."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("KOS_ADAPTER", str(REPO / "build" / "adapter" / "kos-adapter"))
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def run(*args, timeout=20):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BROKERS", "KUBERNETES_SERVICE_HOST")}
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, env=env)


def help_flags():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    flags = set()
    for line in out.stdout.splitlines():
        # a flag line: "  -b, --brokers LIST   text" or "      --flag ..."; only its head
        m = re.match(r"^  (-[a-zA-Z](?:, --[a-z0-9-]+)?|    --[a-z0-9-]+)(?: |$)", line)
        if m:
            flags.update(FLAG.findall(m.group(1)))
    return flags


def readme_flags():
    text = (REPO / "README.md").read_text()
    sect = text[text.index("## Running kos-adapter against your own Kafka"):]
    sect = sect[sect.index("### Flags"):]
    sect = sect[: sect.index("\n## ")]
    flags = set()
    for line in sect.splitlines():
        if not line.startswith("| ") or line.startswith("| flag ") or line.startswith("|---"):
            continue
        first = line.split("|")[1]
        flags.update(FLAG.findall(first.replace("`", " ")))
    return flags


def test_help_lists_flags():
    flags = help_flags()
    # The ones issue 12 found missing from the hand-written --help.
    for f in ("--kubeconfig", "--no-kube", "--authentication-skip-lookup",
              "--authentication-tolerate-lookup-failure", "--authorization-cache-ttl",
              "--kube-cache-ttl", "--headroom-budget"):
        assert f in flags, f
    assert len(flags) >= 40


def test_readme_table_is_the_help():
    h, r = help_flags(), readme_flags()
    assert sorted(h - r) == [], "in --help, not in README's flags table"
    assert sorted(r - h) == [], "in README's flags table, not in --help"


def test_parser_accepts_every_listed_flag():
    """Each flag --help lists is taken by the parser: never 'unrecognized option'."""
    for f in sorted(help_flags()):
        if f in ("-h", "--help", "--version"):
            continue
        # a value for the flags that take one; the run then fails later (no brokers, no
        # certificate), which is fine: the flag itself was parsed
        args = [f, "1"] if f not in NO_VALUE else [f]
        out = run(*args)
        assert "unrecognized option" not in out.stderr, (f, out.stderr)
        assert "invalid option" not in out.stderr, (f, out.stderr)
        if f in NO_VALUE:
            assert "requires an argument" not in out.stderr, f
    assert "unrecognized option" in run("--no-such-flag").stderr


NO_VALUE = {"-d", "-q", "--debug", "--quiet", "--read-committed", "--no-lag-seconds",
            "--no-kube", "--authentication-skip-lookup",
            "--authentication-tolerate-lookup-failure"}

BASE = ["-b", "127.0.0.1:1", "--tls-cert-file", "/nonexistent.crt",
        "--tls-private-key-file", "/nonexistent.key"]


@pytest.mark.parametrize("args,named", [
    (["--refresh-interval", "fast"], "--refresh-interval"),
    (["--refresh-interval", "1ms"], "--refresh-interval"),
    (["--max-staleness", "500ms"], "--max-staleness"),
    (["--kafka-timeout", "99999999999999999999s"], "--kafka-timeout"),
    (["--no-commit-policy", "oldest"], "--no-commit-policy"),
    (["--secure-port", "-1"], "--secure-port"),
    (["--threads", "1e3"], "--threads"),
    (["--max-connections", "lots"], "--max-connections"),
    (["--idle-timeout", "0"], "--idle-timeout"),
    (["--headroom-budget", "-5"], "--headroom-budget"),
    (["--authorization-cache-ttl", "1d"], "--authorization-cache-ttl"),
    (["--requestheader-group-headers", "a,\"b"], "--requestheader-group-headers"),
    (["-X", "no.such.property=1"], "no.such.property"),
    (["-F", "/nonexistent.properties"], "/nonexistent.properties"),
    (["--kubeconfig", "/x", "--no-kube"], "--no-kube"),
])
def test_bad_value_exits_2_naming_the_flag(args, named):
    out = run(*BASE, *args)
    assert out.returncode == 2, out
    assert named in out.stderr, out.stderr
    assert "see --help" in out.stderr
