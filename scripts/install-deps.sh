#!/usr/bin/env bash
# Installs the Debian packages dStore builds, tests and benchmarks with.
# Idempotent: packages already installed are skipped, and `apt-get update`
# runs only when something is missing. Needs root (or sudo) only then.
set -euo pipefail

pkgs=(
  build-essential pkg-config
  clang libclang-rt-14-dev          # libFuzzer drivers, sanitizers
  librocksdb-dev                    # storage engine
  libjemalloc-dev                   # the allocator (src/cmd/alloc.c)
  libgcrypt20-dev                   # AES-256-GCM-SIV, SHA-256, HMAC
  libcurl4-openssl-dev              # etcd gateway client (cluster mode)
  node-llhttp                       # llhttp's C sources (HTTP parser)
  etcd-server etcd-client           # cluster tests
  python3 python3-boto3 python3-pytest   # end-to-end tests with the AWS SDK
  curl awscli wrk
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
