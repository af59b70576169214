"""The kos image, built two ways without Docker: scripts/build-image.sh (buildah, FROM scratch, the
binaries of this tree) and manifests/image/Dockerfile through `buildah bud` (what a Docker user
builds; its base debian:bookworm-slim made with debootstrap). Both must hold the same files with
the same modes and owners, and the same programs: byte-identical once the build-id note is set
aside (the build id hashes the debug information, which carries the line numbers of the
Debian headers the compiler saw; a host whose -dev packages lag the archive by a patch release
changes only those 20 bytes). The image holds nothing but the programs, the libraries they load,
CA certificates and the non-root user, runs each program as 65532 without a shell, and its size
is reported."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))
import kos_node  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "scripts" / "build-image.sh"
PROGRAMS = ("kos-adapter", "kos-processor", "kos-datagen")


def buildah(*args, check=True):
    cache = Path(os.environ.get("KOS_CACHE") or Path.home() / ".cache" / "kos")
    cmd = ["buildah", "--root", str(cache / "containers" / "storage"), "--runroot",
           str(cache / "containers" / "run"), "--storage-driver", "overlay", *map(str, args)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {p.stderr}")
    return p


class Mounted:
    """An image's root filesystem, mounted read-only for inspection."""

    def __init__(self, ref):
        self.ref = ref

    def __enter__(self):
        self.ctr = buildah("from", "--pull=never", self.ref).stdout.strip()
        self.root = Path(buildah("mount", self.ctr).stdout.strip())
        return self

    def __exit__(self, *exc):
        buildah("umount", self.ctr, check=False)
        buildah("rm", self.ctr, check=False)

    def tree(self):
        """{path: (type, mode, uid, gid, link target)} of every entry but /."""
        out = {}
        for p in sorted(self.root.rglob("*")):
            st = p.lstat()
            kind = "l" if p.is_symlink() else "d" if p.is_dir() else "f"
            rel = "/" + str(p.relative_to(self.root))
            out[rel] = (kind, oct(st.st_mode & 0o7777), st.st_uid, st.st_gid,
                        str(p.readlink()) if kind == "l" else None)
        return out

    def program_digest(self, name, tmp):
        """sha256 of /usr/local/bin/NAME without its .note.gnu.build-id, and of the whole file."""
        src = self.root / "usr/local/bin" / name
        dst = tmp / f"{self.ctr}-{name}"
        subprocess.run(["objcopy", "--remove-section", ".note.gnu.build-id", src, dst],
                       check=True)
        return (hashlib.sha256(dst.read_bytes()).hexdigest(),
                hashlib.sha256(src.read_bytes()).hexdigest())


def test_buildah_image_and_dockerfile_image_hold_the_same_files(tmp_path):
    host_tar = kos_node.build_image("localhost/kos-image-test:host", out=tmp_path / "host.tar")
    docker_tar = subprocess.run([BUILD, "--dockerfile", "--print", "--tag",
                                 "localhost/kos-image-test:dockerfile", "--out",
                                 tmp_path / "dockerfile.tar"],
                                capture_output=True, text=True, timeout=3000)
    assert docker_tar.returncode == 0, docker_tar.stderr
    assert host_tar.stat().st_size > 0
    size = buildah("images", "--noheading", "--format", "{{.Size}}",
                   "localhost/kos-image-test:host").stdout.split("\n")[0].strip()
    print(f"image size (uncompressed): {size}; archive {host_tar.stat().st_size} bytes")

    with Mounted("localhost/kos-image-test:host") as a, \
            Mounted("localhost/kos-image-test:dockerfile") as b:
        ta, tb = a.tree(), b.tree()
        only_a, only_b = sorted(ta.keys() - tb.keys()), sorted(tb.keys() - ta.keys())
        assert not only_a and not only_b, f"only in build-image.sh's: {only_a}; " \
                                          f"only in the Dockerfile's: {only_b}"
        differ = {k: (ta[k], tb[k]) for k in ta if ta[k] != tb[k]}
        assert not differ, differ
        # Minimal: the programs, shared libraries, the CA bundle, passwd/group, /tmp. No shell.
        files = {k for k, v in ta.items() if v[0] == "f"}
        others = {f for f in files if not f.startswith(("/lib/", "/lib64/"))}
        assert others == {"/usr/local/bin/" + p for p in PROGRAMS} | {
            "/etc/passwd", "/etc/group", "/etc/ssl/certs/ca-certificates.crt"}, others
        assert all(".so" in f for f in files - others), files - others
        assert not any(f.endswith(("/sh", "/bash", "/dash")) for f in ta), "a shell in the image"
        assert "nonroot:x:65532:65532:" in (a.root / "etc/passwd").read_text()
        assert ta["/tmp"][1] == "0o1777"
        for p in PROGRAMS:
            code_a, whole_a = a.program_digest(p, tmp_path)
            code_b, whole_b = b.program_digest(p, tmp_path)
            assert code_a == code_b, f"{p}: the two builds made different programs"
            print(f"{p}: identical{'' if whole_a == whole_b else ' except the build id'}")

    # The image runs each program as the non-root user, with no shell and a read-only root.
    ctr = buildah("from", "--pull=never", "localhost/kos-image-test:host").stdout.strip()
    try:
        for p in PROGRAMS:
            r = buildah("run", "--network", "none", ctr, "--", f"/usr/local/bin/{p}", "--help",
                        check=False)
            assert r.returncode == 0 and "Usage:" in r.stdout + r.stderr, (p, r.stderr)
        r = buildah("run", "--network", "none", ctr, "--", "/bin/sh", "-c", "true", check=False)
        assert r.returncode != 0
        cfg = buildah("inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}",
                      "localhost/kos-image-test:host").stdout.strip()
        assert cfg == "65532:65532", cfg
    finally:
        buildah("rm", ctr, check=False)
        buildah("rmi", "localhost/kos-image-test:host", "localhost/kos-image-test:dockerfile",
                check=False)
