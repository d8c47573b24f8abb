#!/bin/sh
# Regenerates the DTLS test PKI in test/fixtures/dtls (OpenSSL CLI, P-256 everywhere):
#   root-ca -> intermediate-ca -> server (SAN DNS:localhost, IP:127.0.0.1), client (CN petrel-dev-1),
#   expired (a leaf whose validity ended in 2001), by-leaf (issued by the server leaf, not a CA);
#   other-ca -> other-server (an unrelated CA);
#   server-rpk / client-rpk: bare key pairs for raw public keys (RFC 7250).
# Certificates are valid for 100 years (except `expired`). Every file comes as PEM and DER;
# private keys as PKCS#8 PEM, public keys as SubjectPublicKeyInfo in DER (*.spki.der) and PEM (*.pub.pem).
# Usage: sh scripts/make-test-certs.sh   (from the repository root; overwrites the fixtures)
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/test/fixtures/dtls"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

key() { # name
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/$1.key.pem"
  openssl pkey -in "$out/$1.key.pem" -pubout -outform DER -out "$out/$1.spki.der"
  openssl pkey -in "$out/$1.key.pem" -pubout -out "$out/$1.pub.pem"
}

cat > ext.cnf <<'CNF'
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

# `openssl ca` for explicit dates (the expired leaf); a throwaway database.
cat > ca.cnf <<'CNF'
[ca]
default_ca = expired
[expired]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
CNF
: > index.txt
echo 1000 > serial

der() { openssl x509 -in "$out/$1.pem" -outform DER -out "$out/$1.der"; }

root() { # name cn
  key "$1"
  openssl req -new -x509 -key "$out/$1.key.pem" -subj "/O=Petrel Test/CN=$2" -days 36500 \
    -sha256 -extensions ca -config ext.cnf -out "$out/$1.pem" 2>/dev/null ||
    openssl req -new -x509 -key "$out/$1.key.pem" -subj "/O=Petrel Test/CN=$2" -days 36500 \
      -sha256 -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$out/$1.pem"
  der "$1"
}

issue() { # name cn issuer section
  key "$1"
  openssl req -new -key "$out/$1.key.pem" -subj "/O=Petrel Test/CN=$2" -out "$1.csr"
  openssl x509 -req -in "$1.csr" -CA "$out/$3.pem" -CAkey "$out/$3.key.pem" -set_serial "0x$(openssl rand -hex 8)" \
    -days 36500 -sha256 -extfile ext.cnf -extensions "$4" -out "$out/$1.pem" 2>/dev/null
  der "$1"
}

root root-ca "Petrel Test Root CA"
issue intermediate-ca "Petrel Test Intermediate CA" root-ca ca
issue server localhost intermediate-ca server
issue client petrel-dev-1 intermediate-ca client
root other-ca "Unrelated Test CA"
issue other-server localhost other-ca server

# A certificate issued by a leaf (CA:FALSE): a path through it must be refused.
issue by-leaf localhost server server

key expired
openssl req -new -key "$out/expired.key.pem" -subj "/CN=localhost" -out expired.csr
openssl ca -batch -config ca.cnf -name expired -in expired.csr -cert "$out/intermediate-ca.pem" \
  -keyfile "$out/intermediate-ca.key.pem" -startdate 20000101000000Z -enddate 20010101000000Z \
  -extfile ext.cnf -extensions server -notext -out "$out/expired.pem" 2>/dev/null
der expired

key server-rpk
key client-rpk

# Chains as peers send them (leaf first, without the root).
cat "$out/server.pem" "$out/intermediate-ca.pem" > "$out/server-chain.pem"
cat "$out/client.pem" "$out/intermediate-ca.pem" > "$out/client-chain.pem"
echo "wrote $(ls "$out" | wc -l) files to $out"
