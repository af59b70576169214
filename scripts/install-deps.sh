#!/usr/bin/env bash
# Installs the Debian packages kos builds and tests with. Idempotent: apt is only
# called when a package is missing, so warm runs cost a dpkg query.
set -euo pipefail
PKGS=(build-essential cmake ninja-build pkg-config clang clang-format llvm
      libclang-rt-14-dev libmicrohttpd-dev libjansson-dev librdkafka-dev
      libcurl4-openssl-dev libyaml-dev libssl-dev libgnutls28-dev kcat curl python3-matplotlib python3-pytest python3-cryptography
      openssl maven
      buildah containerd runc containernetworking-plugins debootstrap iproute2)
# The last line: the image (scripts/build-image.sh) and the real test node (tests/harness/node.sh).
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
