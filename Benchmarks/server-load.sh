#!/usr/bin/env bash
# Benchmarks/server-load.sh — load and throughput run for `planvault serve`.
#
# Usage: Benchmarks/server-load.sh [--agents N] [--seconds S] [--size-mib M] [--keep]
#
#   1. Throughput: pushes one generated plan folder (--size-mib, default 300) to a directory
#      target and, over loopback HTTPS, to a PlanVault server; prints both rates and the ratio.
#   2. Load: N agents (default 20), each with its own plan folder and repository, push in a loop
#      for S seconds (default 120), mutating their folder between pushes. Then every repository
#      is verified with --read-data. Prints pushes, failures, verify results and the server's
#      peak memory (VmHWM).
# Exit status 0 only when no push failed and every repository verified.
set -euo pipefail

AGENTS=20
SECONDS_TOTAL=120
SIZE_MIB=300
KEEP=0
while (($#)); do
  case "$1" in
    --agents) AGENTS=$2; shift 2 ;;
    --seconds) SECONDS_TOTAL=$2; shift 2 ;;
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "server-load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
GEN="$SCRIPT_DIR/make-plan-folder.py"
case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) export PATH="$PATH:/opt/swift/usr/bin" ;; esac

if [[ -z ${PLANVAULT_BIN:-} ]]; then
  echo "building planvault (release)..."
  (cd "$REPO_ROOT" && swift build -c release --product planvault >/dev/null)
  PLANVAULT_BIN="$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/planvault"
fi
PV=$PLANVAULT_BIN

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

timed() { # timed LABEL CMD... : prints wall seconds
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

# --- 1. throughput: directory target vs loopback HTTPS ---------------------------------
echo "[generate] throughput folder: $SIZE_MIB MiB"
python3 "$GEN" data --size-mib "$SIZE_MIB" --files $((SIZE_MIB * 5)) --seed 7 >/dev/null
BYTES=$(du -sb data | cut -f1)
"$PV" init --repo "$WORK/dirrepo" >/dev/null
"$PV" init --repo "https://$ADDR/throughput" >/dev/null
export PLANVAULT_CACHE_DIR=$WORK/cache-dir
DIR_S=$(timed "$PV" push --repo "$WORK/dirrepo" --quiet data)
export PLANVAULT_CACHE_DIR=$WORK/cache-https
HTTPS_S=$(timed "$PV" push --repo "https://$ADDR/throughput" --quiet data)
DIR_RATE=$(awk -v b="$BYTES" -v s="$DIR_S" 'BEGIN { printf "%.1f", b / 1048576 / s }')
HTTPS_RATE=$(awk -v b="$BYTES" -v s="$HTTPS_S" 'BEGIN { printf "%.1f", b / 1048576 / s }')
RATIO=$(awk -v h="$HTTPS_RATE" -v d="$DIR_RATE" 'BEGIN { printf "%.2f", h / d }')
printf 'first push of %s MiB:  directory %6.2fs  %7.1f MiB/s   |   HTTPS %6.2fs  %7.1f MiB/s   |   HTTPS/directory %s\n' \
  "$((BYTES / 1048576))" "$DIR_S" "$DIR_RATE" "$HTTPS_S" "$HTTPS_RATE" "$RATIO"
rm -rf data dirrepo

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
