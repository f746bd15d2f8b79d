#!/usr/bin/env bash
# Benchmarks/scale.sh — does memory stay flat as the plan folder grows? (issue 12, "Scale")
#
# Usage: Benchmarks/scale.sh [--size-mib N] [--files N] [--keep]
#
# Generates a plan folder (default 10 GiB in 100,000 files; about 4 minutes), then runs a first
# push and a no-change push with planvault and with restic into fresh repositories on the same
# disk, and prints wall time, peak memory and repository size side by side. It also pushes the
# issue's base corpus (1 GiB in 5,000 files) first, in the same run, and prints how much each
# tool's peak grew from it (the goal: at most 20%). Needs about three times the folder's size in
# free space. Run it by hand, once: it is not part of CI.
# PLANVAULT_BIN names the planvault binary (default: a release build of this checkout);
# BENCH_DIR the parent of the work folder (default /tmp).
set -euo pipefail

SIZE_MIB=10240
FILES=100000
KEEP=0
while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=${2:?}; shift 2 ;;
    --files) FILES=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd) # shellcheck disable=SC2034 # used by planvault-binary.sh
[[ -x /usr/bin/time ]] || apt-get install -y time >/dev/null
command -v restic >/dev/null || apt-get install -y restic >/dev/null
source "$SCRIPT_DIR/planvault-binary.sh"

WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/planvault-scale.XXXXXX")
WORK=$(cd "$WORK" && pwd -P)
cleanup() { ((KEEP)) && echo "work dir kept: $WORK" || rm -rf "$WORK"; }
trap cleanup EXIT
cd "$WORK"
unset PLANVAULT_REPO PLANVAULT_KEYS_FILE RESTIC_REPOSITORY
export PLANVAULT_PASSPHRASE="scale benchmark passphrase" RESTIC_PASSWORD="scale benchmark passphrase"
export PLANVAULT_CACHE_DIR=$WORK/cache-pv RESTIC_CACHE_DIR=$WORK/cache-restic

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
echo "[generate] $SIZE_MIB MiB in $FILES files"
python3 "$SCRIPT_DIR/make-plan-folder.py" "$WORK/plans" --size-mib "$SIZE_MIB" --files "$FILES" --seed 5 | sed 's/^/  /'
python3 "$SCRIPT_DIR/make-plan-folder.py" "$WORK/base" --size-mib 1024 --files 5000 --seed 5 | sed 's/^/  base: /'
sync -f "$WORK"

measure() { # measure NAME CMD...: prints "wall_s peak_MiB"
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$name.time" "$@" >"$name.log" 2>&1 || { echo "FAILED: $*" >&2; tail -5 "$name.log" >&2; exit 1; }
  awk '{ printf "%s %.1f\n", $1, $2 / 1024 }' "$name.time"
}

"$PV" init --repo "$WORK/repo-pv-base" >/dev/null 2>&1
restic -r "$WORK/repo-restic-base" init >/dev/null 2>&1
read -r pv0 pvm0 < <(measure pv-push0 "$PV" push --repo "$WORK/repo-pv-base" --profile "$WORK/base")
read -r rs0 rsm0 < <(measure rs-push0 restic -r "$WORK/repo-restic-base" backup "$WORK/base")
rm -rf "$WORK/repo-pv-base" "$WORK/repo-restic-base"
"$PV" init --repo "$WORK/repo-pv" >/dev/null 2>&1
restic -r "$WORK/repo-restic" init >/dev/null 2>&1
read -r pv1 pvm1 < <(measure pv-push1 "$PV" push --repo "$WORK/repo-pv" --profile "$WORK/plans")
read -r rs1 rsm1 < <(measure rs-push1 restic -r "$WORK/repo-restic" backup "$WORK/plans")
read -r pv2 pvm2 < <(measure pv-push2 "$PV" push --repo "$WORK/repo-pv" --profile "$WORK/plans")
read -r rs2 rsm2 < <(measure rs-push2 restic -r "$WORK/repo-restic" backup "$WORK/plans")
pvsize=$(du -sb "$WORK/repo-pv" | cut -f1)
rssize=$(du -sb "$WORK/repo-restic" | cut -f1)

echo
printf '%-16s | %-24s | %-24s\n' "1024 MiB, 5000 files" planvault restic
printf '%-16s | %8ss, %7s MiB peak | %8ss, %7s MiB peak\n' "first push" "$pv0" "$pvm0" "$rs0" "$rsm0"
echo
printf '%-16s | %-24s | %-24s\n' "$SIZE_MIB MiB, $FILES files" planvault restic
printf '%-16s | %8ss, %7s MiB peak | %8ss, %7s MiB peak\n' "first push" "$pv1" "$pvm1" "$rs1" "$rsm1"
printf '%-16s | %8ss, %7s MiB peak | %8ss, %7s MiB peak\n' "no-change push" "$pv2" "$pvm2" "$rs2" "$rsm2"
printf '%-16s | %24s | %24s\n' repository "$(awk -v b="$pvsize" 'BEGIN{printf "%.1f MiB", b/1048576}')" \
  "$(awk -v b="$rssize" 'BEGIN{printf "%.1f MiB", b/1048576}')"
printf '%-16s | %24s | %24s\n' "peak growth" "$(awk -v a="$pvm0" -v b="$pvm1" 'BEGIN{printf "%+.1f%%", (b / a - 1) * 100}')" \
  "$(awk -v a="$rsm0" -v b="$rsm1" 'BEGIN{printf "%+.1f%%", (b / a - 1) * 100}')"
echo "(peak growth: first push of this folder against the 1024 MiB / 5,000-file one; goal at most +20%)"
echo
echo "planvault's resident memory through each push (from --profile):"
grep -h "resident memory" pv-push0.log pv-push1.log pv-push2.log | sed 's/^.*resident memory: /  /'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
