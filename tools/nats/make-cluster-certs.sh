#!/usr/bin/env bash
# Certificates for the `cluster` profile with TLS (docker-compose.cluster-tls.yml), for a trial or a demo:
#   tools/nats/make-cluster-certs.sh <dir>
# writes into <dir> a CA (ca.pem; its key ca.key stays beside it: keep it elsewhere, or delete it once done), the
# nodes' client-facing certificate (nats-server.pem/.key), their route certificate (route.pem/.key: serverAuth and
# clientAuth, since a node both dials and is dialled) — both naming cluster-nats-1 … 3, the names compose's network
# resolves — and the services' client certificate (client.pem/.key). Valid 365 days. In production, issue them from
# your own CA with the same names and key usages.
set -euo pipefail
dir="${1:?usage: $0 <dir>}"
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
names='DNS:cluster-nats-1, DNS:cluster-nats-2, DNS:cluster-nats-3, DNS:localhost, IP:127.0.0.1'

openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 365 -subj '/CN=Otesse NATS CA' 2>/dev/null
sign() { # name, common name, extensions
  printf '%b' "$3" > "$1.ext"
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 365 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
sign nats-server 'otesse-nats' "subjectAltName = $names\nextendedKeyUsage = serverAuth\n"
sign route 'otesse-nats-route' "subjectAltName = $names\nextendedKeyUsage = serverAuth, clientAuth\n"
sign client 'otesse-service' 'extendedKeyUsage = clientAuth\n'
rm -f ca.srl
# The services run as the image's `node` user (uid 1000), nats-server as root: both read the mounted keys.
chmod 644 ./*.pem nats-server.key route.key client.key
chmod 600 ca.key
echo "certificates in $dir: ca.pem, nats-server.pem/.key, route.pem/.key, client.pem/.key (ca.key: keep it safe)"
