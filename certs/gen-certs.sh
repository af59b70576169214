#!/usr/bin/env bash
# Generates the certificates kos-adapter needs, with openssl:
#   ca.{crt,key}                 serving CA (its PEM, base64, is the APIService caBundle)
#   serving.{crt,key}            adapter serving cert: SANs <svc>.<ns>.svc, <svc>.<ns>.svc.cluster.local,
#                                <svc>, localhost, 127.0.0.1
#   front-proxy-ca.{crt,key}     stand-in for the cluster's request-header CA (local use and tests)
#   front-proxy-client.{crt,key} CN=front-proxy-client, clientAuth (what kube-apiserver presents)
#   client-ca.{crt,key}          CA for direct clients (kubectl, curl)
#   admin.{crt,key}              CN=kos-admin, O=system:masters, signed by client-ca
#   ca-bundle.b64                base64 of ca.crt for APIService.spec.caBundle
#   serving-secret.yaml          kubernetes.io/tls Secret with serving.{crt,key}
#   datagen-control.token        random bearer token for kos-datagen's PUT /rate (kept if present;
#                                the cloud overlay turns it into the Secret kos-datagen-control)
# Usage: certs/gen-certs.sh OUTDIR [--service NAME] [--namespace NS] [--days N] [--rotate-serving]
# Existing CAs are kept, so --rotate-serving issues a new serving certificate that the same
# caBundle still verifies (rotation without touching the APIServices).
set -euo pipefail
out=${1:?usage: gen-certs.sh OUTDIR [--service NAME] [--namespace NS] [--days N] [--rotate-serving]}
shift
svc=kos-adapter; ns=kos; days=365; rotate=0
while (($#)); do
  case $1 in
    --service) svc=${2:?}; shift 2 ;;
    --namespace) ns=${2:?}; shift 2 ;;
    --days) days=${2:?}; shift 2 ;;
    --rotate-serving) rotate=1; shift ;;
    *) echo "gen-certs.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $svc =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || { echo "gen-certs.sh: bad service name $svc" >&2; exit 2; }
[[ $ns =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || { echo "gen-certs.sh: bad namespace $ns" >&2; exit 2; }
mkdir -p "$out"; cd "$out"
umask 077

ca() { # name CN
  [[ -f $1.crt && -f $1.key ]] && return
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days $((days * 10)) \
    -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}
leaf() { # name ca subject eku [san]
  local name=$1 ca=$2 subj=$3 eku=$4 san=${5:-}
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [[ -n $san ]] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.crt" -days "$days" -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca ca "kos-adapter-ca"
ca front-proxy-ca "kos-front-proxy-ca"
ca client-ca "kos-client-ca"
if ((rotate)) || [[ ! -f serving.crt ]]; then
  leaf serving ca "/CN=$svc.$ns.svc" serverAuth \
    "DNS:$svc.$ns.svc,DNS:$svc.$ns.svc.cluster.local,DNS:$svc.$ns,DNS:$svc,DNS:localhost,IP:127.0.0.1"
fi
[[ -f front-proxy-client.crt ]] || leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
[[ -f admin.crt ]] || leaf admin client-ca "/O=system:masters/CN=kos-admin" clientAuth
base64 -w0 ca.crt > ca-bundle.b64
[[ -s datagen-control.token ]] || od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > datagen-control.token
cat > serving-secret.yaml <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: $svc-serving-cert
  namespace: $ns
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 serving.crt)
  tls.key: $(base64 -w0 serving.key)
YAML
chmod 644 ./*.crt ca-bundle.b64
echo "certificates in $PWD (serving SAN $svc.$ns.svc)" >&2
