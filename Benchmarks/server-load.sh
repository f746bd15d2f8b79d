#!/usr/bin/env bash
# Benchmarks/server-load.sh — load and throughput run for `planvault serve`.
#
# Usage: Benchmarks/server-load.sh [--agents N] [--seconds S] [--keep]
#
#   N agents (default 20), each with its own plan folder and repository, push in a loop to one
#   server over loopback HTTPS for S seconds (default 120), mutating their folder between pushes.
#   Then every repository is verified with --read-data. Prints pushes, failures, verify results
#   and the server's peak memory (VmHWM). (Throughput beside the other targets: targets.sh.)
# Exit status 0 only when no push failed and every repository verified.
set -euo pipefail

AGENTS=20
SECONDS_TOTAL=120
KEEP=0
while (($#)); do
  case "$1" in
    --agents) AGENTS=$2; shift 2 ;;
    --seconds) SECONDS_TOTAL=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "server-load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
GEN="$SCRIPT_DIR/make-plan-folder.py"

source "$SCRIPT_DIR/planvault-binary.sh"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/planvault-load.XXXXXX")
SERVER_PID=""
cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  ((KEEP)) || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
unset PLANVAULT_KEYS_FILE PLANVAULT_REPO PLANVAULT_PASSPHRASE PLANVAULT_SERVER_TOKEN
export PLANVAULT_PASSPHRASE="load-test passphrase"

# TLS certificate for loopback, and one agent token for every repository.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem 2>/dev/null
chmod 600 key.pem
mkdir -p root
TOKEN=$("$PV" serve token add --file tokens.json --role agent --repo '*' --label load-test 2>/dev/null)
export PLANVAULT_SERVER_TOKEN=$TOKEN PLANVAULT_CACERT=$WORK/cert.pem

"$PV" serve --root root --tokens tokens.json --tls-cert cert.pem --tls-key key.pem \
  --listen 127.0.0.1:0 --port-file port --quiet >server.log 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 3000); do [[ -s port ]] && break; sleep 0.01; done
[[ -s port ]] || { echo "server did not start"; cat server.log; exit 1; }
ADDR=$(cat port)
echo "server: https://$ADDR (pid $SERVER_PID)"

# --- 2. load: N agents pushing for S seconds -------------------------------------------
echo "[generate] $AGENTS agent folders"
for i in $(seq 1 "$AGENTS"); do
  python3 "$GEN" "agent$i/plans" --size-mib 8 --files 60 --seed "$i" >/dev/null
  PLANVAULT_CACHE_DIR=$WORK/cache$i "$PV" init --repo "https://$ADDR/agent$i" >/dev/null
done

agent_loop() { # agent_loop I : pushes until the deadline, counting successes and failures
  local i=$1 ok=0 fail=0 round=0
  export PLANVAULT_CACHE_DIR=$WORK/cache$i
  while (($(date +%s) < DEADLINE)); do
    round=$((round + 1))
    python3 "$GEN" "agent$i/plans" --mutate --seed $((i * 1000 + round)) >/dev/null 2>&1 || true
    if "$PV" push --repo "https://$ADDR/agent$i" --quiet "agent$i/plans" >>"agent$i.log" 2>&1; then
      ok=$((ok + 1))
    else
      fail=$((fail + 1))
      echo "push failed (round $round)" >>"agent$i.log"
    fi
  done
  echo "$ok $fail" >"agent$i.result"
}

echo "[load] $AGENTS agents for ${SECONDS_TOTAL}s"
DEADLINE=$(($(date +%s) + SECONDS_TOTAL))
export DEADLINE
for i in $(seq 1 "$AGENTS"); do agent_loop "$i" & done
wait $(jobs -p | grep -v "^$SERVER_PID$") 2>/dev/null || true

PUSHES=0 FAILS=0
for i in $(seq 1 "$AGENTS"); do
  read -r ok fail <"agent$i.result"
  PUSHES=$((PUSHES + ok)); FAILS=$((FAILS + fail))
done
VERIFIED=0 BROKEN=0
for i in $(seq 1 "$AGENTS"); do
  if PLANVAULT_CACHE_DIR=$WORK/cache$i "$PV" verify --repo "https://$ADDR/agent$i" --read-data --quiet >"verify$i.log" 2>&1; then
    VERIFIED=$((VERIFIED + 1))
  else
    BROKEN=$((BROKEN + 1)); tail -5 "verify$i.log"
  fi
done
SNAPSHOTS=$(find root -path '*/snapshots/*' -type f | wc -l)
PEAK=$(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$SERVER_PID/status")

echo "load: $AGENTS agents, ${SECONDS_TOTAL}s: $PUSHES pushes succeeded, $FAILS failed; $SNAPSHOTS snapshots on the server"
echo "verify --read-data: $VERIFIED repositories passed, $BROKEN failed"
echo "server peak memory (VmHWM): $PEAK"
if ((FAILS == 0 && BROKEN == 0)); then echo "result: PASS"; else echo "result: FAIL"; exit 1; fi
