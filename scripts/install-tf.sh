#!/usr/bin/env bash
# Installs the offline HCL tools that check terraform/ (tests/e2e/test_manifests.py), once, into
# $KOS_CACHE/tf-tools (KOS_CACHE defaults to ~/.cache/kos):
#   bin/terraform   Terraform CLI, built from the Go module proxy:
#                   go install github.com/hashicorp/terraform@$TF_VERSION
#                   v1.5.7 is the newest release installable that way: from 1.6 on, terraform's
#                   go.mod has replace directives (its remote-state backends became separate
#                   modules), which `go install pkg@version` refuses. It is also the last
#                   MPL-2.0 release. Used for `terraform fmt` (validate/plan need providers from
#                   the Terraform registry, which this machine cannot reach).
#   venv/           Python venv (of /usr/bin/python3) with python-hcl2 (HCL2 parser) and
#                   PyYAML, from PyPI.
# Idempotent: each part is redone only when its stamp file (holding the version) is missing or
# names another version. Concurrent runs serialise on a lock.
# Usage: install-tf.sh [--print-dir]   (--print-dir: only print the install directory)
set -euo pipefail
export CHECKPOINT_DISABLE=1

TF_VERSION=v1.5.7
PY_HCL2_VERSION=8.1.4
PYYAML_VERSION=6.0.2

KOS_CACHE=${KOS_CACHE:-$HOME/.cache/kos}
DIR=$KOS_CACHE/tf-tools
if [[ ${1:-} == --print-dir ]]; then
	echo "$DIR"
	exit 0
fi

log() { echo "install-tf: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

mkdir -p "$DIR/bin"
exec 9>"$DIR/.lock"
flock 9

have() { [[ -f $DIR/.stamp-$1 && $(<"$DIR/.stamp-$1") == "$2" ]]; }
stamp() { echo "$2" >"$DIR/.stamp-$1"; }

# --- terraform --------------------------------------------------------------------------------
if have terraform "$TF_VERSION" && [[ -x $DIR/bin/terraform ]]; then
	:
else
	command -v "${GO:-go}" >/dev/null || die "go not found on PATH (needed to build terraform)"
	log "building terraform $TF_VERSION from the Go module proxy (a few minutes on a cold cache) ..."
	t0=$SECONDS
	rm -f "$DIR/bin/terraform" "$DIR/.stamp-terraform"
	# Outside any module, so no go.mod/go.work around can interfere.
	(cd / && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$DIR/bin" \
		"${GO:-go}" install -trimpath -ldflags='-s -w' "github.com/hashicorp/terraform@$TF_VERSION") ||
		die "go install github.com/hashicorp/terraform@$TF_VERSION failed"
	"$DIR/bin/terraform" version >/dev/null 2>&1 || die "the built terraform does not run"
	stamp terraform "$TF_VERSION"
	log "terraform $TF_VERSION built in $((SECONDS - t0)) s"
fi

# --- python-hcl2 + PyYAML ---------------------------------------------------------------------
PY_STAMP="python-hcl2==$PY_HCL2_VERSION pyyaml==$PYYAML_VERSION $(/usr/bin/python3 -c 'import sys; print("py%d.%d" % sys.version_info[:2])')"
if have venv "$PY_STAMP" && [[ -x $DIR/venv/bin/python ]]; then
	:
else
	log "installing python-hcl2 $PY_HCL2_VERSION and PyYAML $PYYAML_VERSION from PyPI ..."
	rm -rf "$DIR/venv" "$DIR/.stamp-venv"
	if ! /usr/bin/python3 -c 'import ensurepip' 2>/dev/null; then
		# Debian splits venv's ensurepip into python3-venv.
		log "installing Debian package python3-venv ..."
		SUDO=
		[[ $(id -u) == 0 ]] || SUDO=sudo
		if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
			--no-install-recommends python3-venv >/dev/null; }; then
			die "apt-get install python3-venv failed"
		fi
	fi
	/usr/bin/python3 -m venv "$DIR/venv" || die "python3 -m venv failed"
	"$DIR/venv/bin/python" -m pip install -q --disable-pip-version-check \
		"python-hcl2==$PY_HCL2_VERSION" "pyyaml==$PYYAML_VERSION" ||
		die "pip install python-hcl2==$PY_HCL2_VERSION pyyaml==$PYYAML_VERSION failed"
	"$DIR/venv/bin/python" -c 'import hcl2, yaml' || die "the venv cannot import hcl2 and yaml"
	stamp venv "$PY_STAMP"
fi
log "ready in $DIR (terraform $TF_VERSION, python-hcl2 $PY_HCL2_VERSION)"
