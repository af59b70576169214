#!/usr/bin/env bash
# Runs tests/bench/keda/kafka_scaler_facts_test.go inside a copy of KEDA's module source (the
# version pinned in scripts/k8s-versions.env, downloaded by scripts/install-keda.sh): the
# behaviour of the Kafka scaler that docs/keda-kafka-scaler.md states beyond KEDA's own tests.
# Not part of the default suite. -trimpath and CGO_ENABLED=0 as install-keda.sh builds, so the
# go build cache of that build is reused.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
DIR=$("$REPO/scripts/install-keda.sh" --print-dir)
"$REPO/scripts/install-keda.sh"
SRC=$(readlink -f "$DIR/src")
WORK=$(mktemp -d /tmp/kos-keda-facts.XXXXXX)
trap 'chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/keda"
chmod -R u+w "$WORK/keda"
cp "$HERE/keda/kafka_scaler_facts_test.go" "$WORK/keda/pkg/scalers/"
cd "$WORK/keda"
echo "keda-facts: go test -run TestKosFact ./pkg/scalers/ in a copy of $SRC" >&2
GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" \
	go test -trimpath -count=1 -p "${KOS_GO_JOBS:-2}" -run 'TestKosFact' -v ./pkg/scalers/
