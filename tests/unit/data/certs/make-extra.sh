#!/usr/bin/env bash
# Test-only certificates for tests/unit/test_auth.c and test_dispatch.c, on top of what
#   certs/gen-certs.sh tests/unit/data/certs --days 10000
# produced (ca, front-proxy-ca, front-proxy-client, client-ca, admin, serving). Run once from
# the repository root after gen-certs.sh; the outputs are committed as test data and every key
# here is for tests only:
#   evil-proxy.crt        CN=evil-proxy, clientAuth, signed by front-proxy-ca (CN not allowed)
#   unknown-ca.crt        a CA nobody trusts
#   unknown-client.crt    CN=kos-admin, O=system:masters, clientAuth, signed by unknown-ca
#   self-signed.crt       CN=kos-admin, self-signed, clientAuth
#   client-ca-server.crt  CN=kos-server, serverAuth only, signed by client-ca (wrong EKU)
#   multi-org.crt         CN=ops, O=team-a + O=team-b, clientAuth, signed by client-ca
#   fake-proxy.crt        CN=front-proxy-client, clientAuth, signed by client-ca (a direct client
#                         using the front proxy's name: must not become a front proxy)
#   two-cn-proxy.crt      subject CN=front-proxy-client,CN=x (DER order), front-proxy-ca: Go's
#                         pkix.Name keeps the LAST CN, so k8s sees "x" (not an allowed name)
#   two-cn-proxy-last.crt CN=x,CN=front-proxy-client, front-proxy-ca: k8s sees the proxy
#   two-cn-client.crt     CN=alice,CN=mallory, client-ca: k8s' user is "mallory"
#   multi-rdn.crt         O=o-b+O=o-a / CN=cn-b+CN=cn-a / O=o-c (multi-valued RDNs), client-ca
#   uid-client.crt        UID=uid-123, CN=carol, O=team-c, client-ca (user UID from the cert)
#   two-uid-client.crt    UID=u1, UID=u2, CN=dave, client-ca (two UIDs: refused by k8s)
#   not-a-cert.pem        text without any PEM block
#   *.der                 DER of every leaf (kos_auth_verify_peer takes DER)
set -euo pipefail
dir=${1:-tests/unit/data/certs}
days=10000
cd "$dir"
umask 077
for f in front-proxy-ca client-ca front-proxy-client admin serving; do
  [[ -f $f.crt ]] || { echo "make-extra.sh: run certs/gen-certs.sh $dir first ($f.crt)" >&2; exit 2; }
done

leaf() { # name ca subject eku
  local name=$1 ca=$2 subj=$3 eku=$4
  openssl req -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" \
    -multivalue-rdn 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' \
    "$eku" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial \
    -out "$name.crt" -days "$days" -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

openssl req -x509 -newkey rsa:2048 -nodes -keyout unknown-ca.key -out unknown-ca.crt \
  -days $((days * 10)) -subj "/CN=kos-unknown-ca" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
leaf evil-proxy front-proxy-ca "/CN=evil-proxy" clientAuth
leaf unknown-client unknown-ca "/O=system:masters/CN=kos-admin" clientAuth
leaf client-ca-server client-ca "/CN=kos-server" serverAuth
leaf multi-org client-ca "/O=team-a/O=team-b/CN=ops" clientAuth
leaf fake-proxy client-ca "/CN=front-proxy-client" clientAuth
leaf two-cn-proxy front-proxy-ca "/CN=front-proxy-client/CN=x" clientAuth
leaf two-cn-proxy-last front-proxy-ca "/CN=x/CN=front-proxy-client" clientAuth
leaf two-cn-client client-ca "/CN=alice/CN=mallory" clientAuth
leaf multi-rdn client-ca "/O=o-b+O=o-a/CN=cn-b+CN=cn-a/O=o-c" clientAuth
leaf uid-client client-ca "/UID=uid-123/CN=carol/O=team-c" clientAuth
leaf two-uid-client client-ca "/UID=u1/UID=u2/CN=dave" clientAuth
openssl req -x509 -newkey rsa:2048 -nodes -keyout self-signed.key -out self-signed.crt \
  -days "$days" -subj "/O=system:masters/CN=kos-admin" \
  -addext "extendedKeyUsage=clientAuth" 2>/dev/null
echo "this file has no PEM certificate in it" > not-a-cert.pem

for f in front-proxy-client admin serving evil-proxy unknown-client self-signed \
  client-ca-server multi-org fake-proxy two-cn-proxy two-cn-proxy-last two-cn-client multi-rdn \
  uid-client two-uid-client; do
  openssl x509 -in "$f.crt" -outform DER -out "$f.der"
done
rm -f ./*.srl
chmod 644 ./*.crt ./*.der not-a-cert.pem
echo "extra test certificates in $PWD" >&2
