#!/usr/bin/env bash
# Prepares overlays/local for one test run: copies manifests/ to DEST/manifests (and dashboards/
# to DEST/dashboards, for components/grafana-dashboard), writes the adapter's port and the
# APIService caBundle into the copy's overlays/local/params.env, a random kos-datagen control
# token into its control.token, and prints the path of the configured overlay, ready for
# `kubectl apply -k`.
# The repo is never written to, so concurrent runs do not interfere.
# Usage: configure.sh DEST PORT CA_BUNDLE_B64_FILE
#   PORT                the local kos-adapter's --secure-port (1-65535)
#   CA_BUNDLE_B64_FILE  base64 of the CA that signed the adapter's serving certificate
#                       (certs/gen-certs.sh OUT --service kos-adapter --namespace kos writes
#                       OUT/ca-bundle.b64; a PEM file is accepted too and encoded here)
# Example:
#   ov=$(manifests/overlays/local/configure.sh "$tmp" 40123 "$tmp/certs/ca-bundle.b64")
#   kubectl apply -k "$ov"
# Other overlays on top of local (e.g. overlays/local-external-lag) are configured too:
#   kubectl apply -k "$(dirname "$ov")/local-external-lag"
set -euo pipefail
usage() { echo "usage: configure.sh DEST PORT CA_BUNDLE_B64_FILE" >&2; exit 2; }
(($# == 3)) || usage
dest=$1 port=$2 ca=$3
if ! [[ $port =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
  echo "configure.sh: bad port '$port'" >&2; exit 2
fi
port=$((10#$port))
[[ -r $ca ]] || { echo "configure.sh: cannot read $ca" >&2; exit 2; }
if grep -q -- '-----BEGIN CERTIFICATE-----' "$ca"; then
  bundle=$(base64 -w0 "$ca")
else
  bundle=$(tr -d ' \n\r\t' <"$ca")
fi
if [[ -z $bundle ]] || ! printf '%s' "$bundle" | base64 -d 2>/dev/null | grep -q -- '-----BEGIN CERTIFICATE-----'; then
  echo "configure.sh: $ca is neither a PEM certificate nor its base64" >&2; exit 2
fi
manifests=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$dest"
rm -rf "$dest/manifests"
cp -R "$manifests" "$dest/manifests"
# components/grafana-dashboard includes ../../../dashboards (the JSON lives there)
rm -rf "$dest/dashboards"
cp -R "$manifests/../dashboards" "$dest/dashboards"
printf 'ADAPTER_PORT=%s\nCA_BUNDLE=%s\n' "$port" "$bundle" >"$dest/manifests/overlays/local/params.env"
# kos-datagen's PUT /rate token for this run.
(umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dest/manifests/overlays/local/control.token")
cd "$dest/manifests/overlays/local" && pwd
