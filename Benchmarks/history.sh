#!/usr/bin/env bash
# Benchmarks/history.sh — a year of nightly pushes, planvault beside restic on the same data in
# the same run: what a no-change push adds, what `snapshots` and `restore latest` cost with no
# cache after NIGHTS nights (bytes read from the target, wall time, time until restore starts
# writing), and the repository size before and after a retention policy with prune.
#
# Usage: bash Benchmarks/history.sh [NIGHTS]          (default 365)
#   BENCH_FILES (5000), BENCH_SIZE_MIB (200), BENCH_WORK (a temporary folder), PLANVAULT_BIN
# Each night edits ~1 % of the files (make-plan-folder.py --mutate) and pushes with --time set
# to that night, so retention sees a year of dates.
set -euo pipefail
NIGHTS=${1:-365}
FILES=${BENCH_FILES:-5000}
SIZE=${BENCH_SIZE_MIB:-200}
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/.." && pwd)"
source "$HERE/planvault-binary.sh"
if ! command -v restic >/dev/null; then
  echo "installing restic (Debian package) for the comparison" >&2
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic strace bc >/dev/null
fi
command -v strace >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null
WORK=${BENCH_WORK:-$(mktemp -d)}
WORK=$(cd "$WORK" && pwd -P)
PLANS="$WORK/plans" PV_REPO="$WORK/repo-planvault" RS_REPO="$WORK/repo-restic"
export PLANVAULT_PASSPHRASE="benchmark passphrase" RESTIC_PASSWORD="benchmark passphrase"
export PLANVAULT_CACHE_DIR="$WORK/cache/planvault" RESTIC_CACHE_DIR="$WORK/cache/restic"
echo "history: $NIGHTS nights of a $FILES-file, $SIZE MiB plan folder in $WORK (load before: $(cut -d' ' -f1-3 /proc/loadavg))"

python3 "$HERE/make-plan-folder.py" "$PLANS" --files "$FILES" --size-mib "$SIZE" --seed 1 >/dev/null
"$PV" init --repo "$PV_REPO" >/dev/null
restic -r "$RS_REPO" init >/dev/null 2>&1

size() { du -sb "$1" | cut -f1; }
night() { date -u -d "@$((1767232800 + $1 * 86400))" +%Y-%m-%dT%H:%M:%SZ; }  # 2026-01-01T02:00:00Z + N days
push_both() {
  local when; when=$(night "$1")
  "$PV" push --repo "$PV_REPO" --quiet --time "$when" "$PLANS" >/dev/null
  restic -r "$RS_REPO" backup --quiet --time "$(date -u -d "$when" '+%Y-%m-%d %H:%M:%S')" "$PLANS" >/dev/null
}

push_both 0
pv0=$(size "$PV_REPO") rs0=$(size "$RS_REPO")
push_both 1
pv_growth=$(($(size "$PV_REPO") - pv0)) rs_growth=$(($(size "$RS_REPO") - rs0))
# What a no-change push adds without the attestation (evidence that restic has no equivalent of).
pv_att=$(ls -t "$PV_REPO/attestations" | head -1)
pv_growth_data=$((pv_growth - $(stat -c %s "$PV_REPO/attestations/$pv_att")))

for ((n = 2; n <= NIGHTS; n++)); do
  python3 "$HERE/make-plan-folder.py" "$PLANS" --mutate --seed "$n" >/dev/null
  push_both "$n"
  ((n % 50 == 0)) && echo "  night $n: planvault $(size "$PV_REPO") bytes, restic $(size "$RS_REPO") bytes"
done
pv_year=$(size "$PV_REPO") rs_year=$(size "$RS_REPO")

# Bytes a command reads from files below the repository (strace: read/pread64 on fds opened there).
bytes_read() {
  local repo=$1; shift
  strace -f -qq -e trace=openat,read,pread64,close -o "$WORK/strace.log" "$@" >/dev/null 2>&1
  python3 - "$repo" "$WORK/strace.log" <<'PY'
import re, sys
repo, log = sys.argv[1], sys.argv[2]
fds, total = {}, 0
for line in open(log, errors="replace"):
    m = re.match(r'(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)', line)
    if not m: continue
    pid, call, args, ret = m.group(1), m.group(2), m.group(3), int(m.group(4))
    if call == "openat" and ret >= 0:
        p = re.search(r'"([^"]*)"', args)
        fds[(pid, ret)] = p.group(1) if p else ""
    elif call in ("read", "pread64") and ret > 0:
        fd = int(args.split(",")[0])
        if fds.get((pid, fd), "").startswith(repo): total += ret
    elif call == "close":
        fds.pop((pid, int(args.split(",")[0]) if args else -1), None)
print(total)
PY
}
wall() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); printf '%.2f' "$(echo "$e - $s" | bc)"; }

pv_snap_bytes=$(bytes_read "$PV_REPO" "$PV" snapshots --repo "$PV_REPO" --no-cache)
rs_snap_bytes=$(bytes_read "$RS_REPO" restic -r "$RS_REPO" snapshots --no-cache)
pv_snap_time=$(wall "$PV" snapshots --repo "$PV_REPO" --no-cache)
rs_snap_time=$(wall restic -r "$RS_REPO" snapshots --no-cache)

# restore latest with no cache: total time, and time until the first file appears in the destination.
first_file() {
  local dest=$1; shift
  rm -rf "$dest"; mkdir -p "$dest"
  local s; s=$(date +%s.%N)
  "$@" >/dev/null 2>&1 &
  local pid=$! first=""
  while kill -0 "$pid" 2>/dev/null; do
    if [[ -z $first ]] && [[ -n $(find "$dest" -type f -print -quit 2>/dev/null) ]]; then first=$(date +%s.%N); fi
    sleep 0.02
  done
  wait "$pid"
  sync
  local e; e=$(date +%s.%N)
  [[ -z $first ]] && first=$e
  printf '%.2f %.2f\n' "$(echo "$first - $s" | bc)" "$(echo "$e - $s" | bc)"
}
read -r pv_first pv_restore < <(first_file "$WORK/restore-pv" "$PV" restore latest --repo "$PV_REPO" --no-cache --to "$WORK/restore-pv")
read -r rs_first rs_restore < <(first_file "$WORK/restore-rs" restic -r "$RS_REPO" restore latest --no-cache --target "$WORK/restore-rs")

"$PV" forget --repo "$PV_REPO" --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune --quiet >/dev/null
restic -r "$RS_REPO" forget --keep-daily 7 --keep-weekly 5 --keep-monthly 12 --prune >/dev/null 2>&1
pv_kept=$(size "$PV_REPO") rs_kept=$(size "$RS_REPO")

mib() { echo "scale=1; $1 / 1048576" | bc; }
printf '\n%-52s %16s %16s\n' "after $NIGHTS nights ($FILES files, $SIZE MiB)" planvault restic
printf '%-52s %16s %16s\n' "no-change push: repository growth (bytes)" "$pv_growth" "$rs_growth"
printf '%-52s %16s %16s\n' "  of which not attestation (bytes)" "$pv_growth_data" "-"
printf '%-52s %16s %16s\n' "snapshots --no-cache: bytes read" "$pv_snap_bytes" "$rs_snap_bytes"
printf '%-52s %16s %16s\n' "snapshots --no-cache: wall (s)" "$pv_snap_time" "$rs_snap_time"
printf '%-52s %16s %16s\n' "restore latest --no-cache: first file (s)" "$pv_first" "$rs_first"
printf '%-52s %16s %16s\n' "restore latest --no-cache: total incl. sync (s)" "$pv_restore" "$rs_restore"
printf '%-52s %16s %16s\n' "repository after $NIGHTS nights (MiB)" "$(mib "$pv_year")" "$(mib "$rs_year")"
printf '%-52s %16s %16s\n' "after forget 7d/5w/12m --prune (MiB)" "$(mib "$pv_kept")" "$(mib "$rs_kept")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
[[ -n ${BENCH_WORK:-} ]] || rm -rf "$WORK"
