#!/usr/bin/env bash
# Assembles the kos image's whole file tree in OUT: the three programs in /usr/local/bin, the
# shared libraries they load (ldd, copied as regular files under their sonames, plus the dynamic
# loader), the CA certificates, /etc/passwd and /etc/group with the non-root user 65532 the
# manifests run as, and an empty /tmp. No shell, no package manager: nothing else.
# Run by the Dockerfile's build stage and by scripts/build-image.sh on the host, so both images
# hold the same files (tests/e2e/test_image.py compares them).
# Usage: rootfs.sh OUT BIN...
set -euo pipefail
umask 022
(($# >= 2)) || {
	echo "usage: rootfs.sh OUT BIN..." >&2
	exit 2
}
out=$1
shift
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[[ -r $CA_BUNDLE ]] || {
	echo "rootfs.sh: $CA_BUNDLE missing (install ca-certificates)" >&2
	exit 1
}
rm -rf "$out"
mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp"
chmod 1777 "$out/tmp"

# copy_lib PATH: the library ldd resolved, as a regular file at the same path (never a symlink:
# the image has no other files a link could point into).
copy_lib() {
	local dst=$out$1
	[[ -e $dst ]] && return 0
	mkdir -p "$(dirname "$dst")"
	cp -L "$1" "$dst" # mode of the original under umask 022: 0644, the loader 0755
}

for bin in "$@"; do
	[[ -x $bin ]] || {
		echo "rootfs.sh: $bin is not an executable" >&2
		exit 1
	}
	install -m 0755 "$bin" "$out/usr/local/bin/$(basename "$bin")"
	# "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
	while read -r lib; do
		copy_lib "$lib"
	done < <(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
	if ldd "$bin" | grep -q 'not found'; then
		echo "rootfs.sh: $bin has unresolved libraries:" >&2
		ldd "$bin" | grep 'not found' >&2
		exit 1
	fi
done

cp -L "$CA_BUNDLE" "$out$CA_BUNDLE"
chmod 0644 "$out$CA_BUNDLE"
# OpenSSL's default directory (/usr/lib/ssl/certs -> /etc/ssl/certs) is where librdkafka and libcurl
# look when no CA is configured; the bundle file is enough for both.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
	>"$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$out/etc/group"
chmod 0644 "$out/etc/passwd" "$out/etc/group"
find "$out" -type d -exec chmod u+rwx,go+rx {} +
# Reproducible: one mtime for every file, whatever built it.
find "$out" -exec touch -h -d @"${SOURCE_DATE_EPOCH:-0}" {} +
