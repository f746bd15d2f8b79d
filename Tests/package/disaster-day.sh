#!/usr/bin/env bash
# The README's "Disaster day" steps for an HTTPS server, followed literally with the packaged
# binary (dist/), against a real `planvault serve` on loopback: a fresh HOME with no cache and no
# config, no Swift toolchain (hidden in a private mount namespace), only the tarball, the address, a reader token, the CA certificate and the passphrase.
# Run after scripts/package.sh (CI: .ci/run). Usage: Tests/package/disaster-day.sh [DIST_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
repo_root=$PWD
dist=$(cd "${1:-dist}" && pwd)

fail() { echo "disaster-day test: FAILED: $*" >&2; exit 1; }

shopt -s nullglob
tarballs=("$dist"/planvault-*-linux-x86_64.tar.gz)
shopt -u nullglob
((${#tarballs[@]} == 1)) || fail "expected one planvault-VERSION-linux-x86_64.tar.gz in $dist: run scripts/package.sh first"

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- Before the disaster: the server at the alternate site and a nightly push from the office. ---
mkdir -p "$work/site/root" "$work/office"
tar -C "$work/site" -xzf "${tarballs[0]}"
pv=$(echo "$work"/site/planvault-*-linux-x86_64/planvault)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$work/site/key.pem" -out "$work/site/ca.pem" 2>/dev/null
chmod 600 "$work/site/key.pem"
agent=$("$pv" serve token add --file "$work/site/tokens.json" --role agent --repo plans --label office 2>/dev/null)
reader=$("$pv" serve token add --file "$work/site/tokens.json" --role reader --repo plans --label "disaster day" 2>/dev/null)
"$pv" serve --root "$work/site/root" --tokens "$work/site/tokens.json" --listen 127.0.0.1:0 --port-file "$work/site/port" \
  --tls-cert "$work/site/ca.pem" --tls-key "$work/site/key.pem" 2>"$work/site/server.log" &
server_pid=$!
# Wait for the condition (the server wrote its address), with a deadline.
for _ in $(seq 1 600); do
  [[ -s $work/site/port ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/site/server.log" >&2; fail "the server did not start"; }
  sleep 0.1
done
address=$(cat "$work/site/port")
[[ -n $address ]] || fail "the server wrote no address"
export_office=(env HOME="$work/office" PLANVAULT_PASSPHRASE="the envelope passphrase" PLANVAULT_SERVER_TOKEN="$agent"
               PLANVAULT_CACERT="$work/site/ca.pem" PLANVAULT_REPO="https://$address/plans")
"${export_office[@]}" "$pv" init >/dev/null
"${export_office[@]}" "$pv" push "$repo_root/Examples/plans" >/dev/null
before=$(cd "$work/site/root" && find . -type f -printf '%p %s\n' | sort)

# --- Disaster day: a bare machine. The envelope holds the address, the reader token, the CA
# certificate and the passphrase; the tarball was downloaded into the home folder. ---
export HOME="$work/bare-home"
mkdir -p "$HOME"
cp "${tarballs[0]}" "$work/site/ca.pem" "$HOME/"
cd "$HOME"
for var in $(env | grep -o '^PLANVAULT_[A-Z_]*'); do unset "$var"; done
[[ ! -e $HOME/.cache && ! -e planvault.toml ]] || fail "the bare home is not bare"

# The README's steps, in order, on a machine view without the Swift toolchain: /opt/swift is
# hidden under an empty tmpfs in a private mount namespace (as Tests/package/run.sh does).
cat >"$work/steps.sh" <<'STEPS'
set -euo pipefail
mount -t tmpfs -o size=1m none /opt/swift
[[ -z $(ls -A /opt/swift) ]] || { echo "the toolchain folder is still visible" >&2; exit 1; }
cd ~
tar xzf planvault-*-linux-x86_64.tar.gz
cd planvault-*-linux-x86_64/
export PLANVAULT_REPO=https://$ADDRESS/plans
export PLANVAULT_SERVER_TOKEN=$READER
export PLANVAULT_CACERT=~/ca.pem
export PLANVAULT_PASSPHRASE="the envelope passphrase"
./planvault snapshots >"$WORK/snapshots.out" 2>"$WORK/snapshots.err" || { cat "$WORK/snapshots.err" >&2; exit 1; }
./planvault restore latest --to ~/restored-plans >"$WORK/restore.out" 2>"$WORK/restore.err" || { cat "$WORK/restore.err" >&2; exit 1; }
STEPS
unshare_flags=(-m)
[[ $(id -u) -eq 0 ]] || unshare_flags=(-r -m)
unshare "${unshare_flags[@]}" env -i PATH=/usr/bin:/bin HOME="$HOME" ADDRESS="$address" READER="$reader" WORK="$work" \
  bash "$work/steps.sh" || fail "the README's steps (see the output above)"
grep -q "Examples/plans" "$work/snapshots.out" || fail "planvault snapshots did not list the pushed snapshot: $(cat "$work/snapshots.out")"
grep -q "restoring snapshot" "$work/restore.out" || fail "restore did not say which snapshot it restores: $(cat "$work/restore.out")"
[[ -n $(ls -A /opt/swift 2>/dev/null) ]] || fail "/opt/swift looks empty outside the namespace: the test hid the wrong thing"

diff -r "$repo_root/Examples/plans" ~/restored-plans/plans || fail "the restored plans differ from the pushed ones"
after=$(cd "$work/site/root" && find . -type f -printf '%p %s\n' | sort)
[[ $before == "$after" ]] || fail "the restore with a reader token changed files on the server"
echo "disaster-day test: ok: snapshots and restore latest with a reader token from a bare home without the toolchain; the server is unchanged"
