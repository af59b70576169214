#!/usr/bin/env bash
# Builds the kos image without Docker, with buildah, and writes it as an archive that containerd
# (`ctr images import`) and Docker (`docker load`) read.
#
#   scripts/build-image.sh [--tag T]...          the image from this tree: kos built in build-image/
#                                                (the Dockerfile's flags), manifests/image/rootfs.sh,
#                                                FROM scratch; -> $KOS_CACHE/image/kos.tar
#   scripts/build-image.sh --dockerfile [--tag T] the same image through manifests/image/Dockerfile
#                                                (buildah bud; its base debian:bookworm-slim is made
#                                                with debootstrap); -> $KOS_CACHE/image/kos-dockerfile.tar
#   scripts/build-image.sh --pause               the pod sandbox ("pause") image for the test node;
#                                                -> $KOS_CACHE/image/pause.tar
#   scripts/build-image.sh --base                only the debian:bookworm-slim base
#   --out FILE   the archive's path;   --print   print the archive's path when done
#
# Tags default to ghcr.io/kos-project/kos:dev (the base manifests' image). buildah's storage
# lives in $KOS_CACHE/containers (KOS_CACHE defaults to ~/.cache/kos), so the base and every
# cached layer survive between runs; a second run only rebuilds what changed. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
KOS_CACHE=${KOS_CACHE:-$HOME/.cache/kos}
IMG_DIR=$KOS_CACHE/image
STORE=$KOS_CACHE/containers
MIRROR=${KOS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_REF=docker.io/library/debian:bookworm-slim
PAUSE_REF=localhost/kos-pause:3.10
PROGRAMS=(adapter/kos-adapter processor/kos-processor datagen/kos-datagen)
# Same paths and flags as the Dockerfile's build stage, so the two builds make identical binaries.
CFLAGS_REPRO="-ffile-prefix-map=$REPO=/src -ffile-prefix-map=$REPO/build-image=/build"

log() { echo "build-image: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}
B() { buildah --root "$STORE/storage" --runroot "$STORE/run" --storage-driver overlay "$@"; }
have_image() { B inspect --type image "$1" >/dev/null 2>&1; }

mode=kos out="" print=0 tags=()
while (($#)); do
	case $1 in
	--tag) tags+=("${2:?--tag needs a value}") && shift ;;
	--out) out=${2:?--out needs a value} && shift ;;
	--dockerfile) mode=dockerfile ;;
	--pause) mode=pause ;;
	--base) mode=base ;;
	--print) print=1 ;;
	-h | --help)
		sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument $1 (--help)" ;;
	esac
	shift
done
((${#tags[@]})) || tags=(ghcr.io/kos-project/kos:dev)
[[ $(id -u) == 0 ]] || die "needs root (buildah storage and mounts)"
command -v buildah >/dev/null || die "buildah missing: scripts/install-deps.sh"
mkdir -p "$IMG_DIR" "$STORE"
exec 8>"$STORE/.lock"
flock 8 # one builder at a time on the shared storage

# The debootstrap'ed Debian 12 root filesystem, imported as debian:bookworm-slim with the apt
# sources of the official image (bookworm, -updates, -security), for the Dockerfile's FROM.
make_base() {
	have_image "$BASE_REF" && return 0
	command -v debootstrap >/dev/null || die "debootstrap missing: scripts/install-deps.sh"
	local tarball=$IMG_DIR/debian-bookworm-minbase.tar root
	if [[ ! -f $tarball ]]; then
		root=$(mktemp -d "$IMG_DIR/.rootfs.XXXXXX")
		log "debootstrap bookworm (minbase) from $MIRROR ..."
		debootstrap --variant=minbase bookworm "$root" "$MIRROR" >"$IMG_DIR/debootstrap.log" 2>&1 ||
			{
				tail -20 "$IMG_DIR/debootstrap.log" >&2
				rm -rf "$root"
				die "debootstrap failed (log $IMG_DIR/debootstrap.log)"
			}
		rm -f "$root/etc/apt/sources.list"
		cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
		rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/lib/apt/lists/"*
		tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
		mv "$tarball.tmp" "$tarball"
		rm -rf "$root"
	fi
	local c
	c=$(B from scratch)
	B add "$c" "$tarball" / >/dev/null
	B config --cmd '["bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$c"
	B commit -q --rm "$c" "$BASE_REF" >/dev/null
	log "base image $BASE_REF ready"
}

# save REF... FILE: one docker-archive holding the image under every REF (ctr/docker load).
save() {
	local file=${*: -1} refs=("${@:1:$#-1}") extra=() r
	for r in "${refs[@]:1}"; do extra+=(--additional-tag "$r"); done
	rm -f "$file.tmp"
	B push -q "${extra[@]}" "${refs[0]}" "docker-archive:$file.tmp:${refs[0]}" >/dev/null
	mv "$file.tmp" "$file"
}

tag_all() { # IMAGE_ID: give it every requested tag
	local t
	for t in "${tags[@]}"; do B tag "$1" "$t"; done
}

# Config shared by both builds (the Dockerfile says the same).
configure() {
	B config --user 65532:65532 --port 6443 --port 8080 --entrypoint '[]' \
		--cmd '["/usr/local/bin/kos-adapter", "--help"]' --workingdir / "$1"
}

build_kos() {
	log "building kos (build-image/, RelWithDebInfo, no tests, reproducible paths)"
	cmake -S . -B build-image -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
		"-DCMAKE_C_FLAGS=$CFLAGS_REPRO" >/dev/null
	ninja -C build-image -j "${KOS_JOBS:-2}" | { grep -v '^\[' || true; } >&2
	rm -rf build-image/out && mkdir -p build-image/out
	local p
	for p in "${PROGRAMS[@]}"; do install -m 0755 "build-image/$p" build-image/out/; done
	strip --strip-unneeded build-image/out/*
	manifests/image/rootfs.sh build-image/rootfs build-image/out/*
	local c id
	c=$(B from scratch)
	B add "$c" build-image/rootfs/ / >/dev/null
	configure "$c"
	id=$(B commit -q --rm --timestamp 0 "$c")
	tag_all "$id"
	save "${tags[@]}" "${out:-$IMG_DIR/kos.tar}"
	report "${tags[0]}" "${out:-$IMG_DIR/kos.tar}"
}

build_dockerfile() {
	make_base
	log "buildah bud manifests/image/Dockerfile (context: the repository)"
	local id
	# host network: the build stage's apt-get reaches the Debian mirror as the host's apt does.
	B bud --pull=never --network host --layers --timestamp 0 -q --ulimit nofile=20000:20000 \
		--ulimit nproc=32768:32768 --ignorefile manifests/image/Dockerfile.dockerignore \
		-f manifests/image/Dockerfile --iidfile "$IMG_DIR/.iid" . >"$IMG_DIR/bud.log" 2>&1 ||
		{
			tail -30 "$IMG_DIR/bud.log" >&2
			die "buildah bud failed (log $IMG_DIR/bud.log)"
		}
	id=$(<"$IMG_DIR/.iid")
	[[ ${tags[0]} == ghcr.io/kos-project/kos:dev ]] && tags=(localhost/kos-dockerfile:dev)
	tag_all "$id"
	save "${tags[@]}" "${out:-$IMG_DIR/kos-dockerfile.tar}"
	report "${tags[0]}" "${out:-$IMG_DIR/kos-dockerfile.tar}"
}

# The sandbox image: one static binary that holds the pod's namespaces and reaps orphans.
build_pause() {
	local file=${out:-$IMG_DIR/pause.tar} d c
	if have_image "$PAUSE_REF" && [[ -f $file ]]; then
		log "pause image present ($file)"
		[[ $print == 1 ]] && echo "$file"
		return 0
	fi
	d=$(mktemp -d)
	gcc -static -O2 -Wall -Wextra -Werror -o "$d/pause" tests/harness/node/pause.c
	strip "$d/pause"
	c=$(B from scratch)
	B copy "$c" "$d/pause" /pause >/dev/null
	B config --entrypoint '["/pause"]' --user 65535:65535 "$c"
	B commit -q --rm --timestamp 0 "$c" "$PAUSE_REF" >/dev/null
	rm -rf "$d"
	save "$PAUSE_REF" "$file"
	log "pause image $PAUSE_REF -> $file"
	[[ $print == 1 ]] && echo "$file"
	return 0
}

report() { # REF FILE: the image's size (uncompressed layers) and the archive
	local size
	size=$(B images --noheading --format '{{.Size}}' "$1" | sed -n 1p)
	log "image ${tags[*]}: $size uncompressed, archive $(stat -c %s "$2") bytes -> $2"
	[[ $print == 1 ]] && echo "$2"
	return 0
}

case $mode in
base) make_base ;;
pause) build_pause ;;
dockerfile) build_dockerfile ;;
kos) build_kos ;;
esac
