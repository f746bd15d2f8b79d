#!/usr/bin/env bash
# Benchmarks/run.sh — time planvault against restic on the same generated plan folder.
#
# Usage: Benchmarks/run.sh [--size-mib N] [--files N] [--seed N] [--rounds N] [--keep]
#
#   --rounds N      rounds per step (default 3, or $BENCH_ROUNDS); each step is
#                   reported by its best (fastest) round, with every round's time
#
# Environment:
#   BENCH_TOOLS     tools to run, in this order (default "planvault restic")
#   BENCH_DIR       parent of the temporary work dir (default /tmp)
#   BENCH_ROUNDS    default for --rounds
#   PLANVAULT_BIN   use this planvault binary instead of building one
#   BENCH_DROP_CACHES  1 (default): empty the page cache before each restore and
#                   verify (needs root), so both tools read their repository from
#                   disk, as at the alternate site; 0: leave it
#
# The plan folder is generated once and kept pristine; every round starts from
# a fresh copy of it (cp -a, mtimes kept) and fresh repositories, restore
# folders and caches, in a folder of its own (round-N): nothing is deleted
# until the end when the disk has room for every round (about 5 times the
# folder's size per round), because on ext4 without a journal a file created
# within a minute or more of deleting thousands costs a scan past them (see
# Benchmarks/README.md), which would slow whichever restore came after.  Steps, per tool and round: init, first push, no-change
# push, incremental push (after make-plan-folder.py --mutate), restore latest
# into an empty dir (synced to disk by both tools, inside the timing), restore
# check, verify with a full data read.  The tools alternate within each phase
# (and swap who goes first from one phase, and one round, to the next) so both
# see the same machine state; restore and verify start with an empty page cache
# (BENCH_DROP_CACHES below).  Each step is timed with /usr/bin/time; the
# report ends with the issue's goals, judged on the best rounds.  The exit
# status is about correctness only; see Benchmarks/README.md.
set -euo pipefail

SIZE_MIB=1024
FILES=5000
SEED=1
ROUNDS=${BENCH_ROUNDS:-3}
KEEP=0

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=${2:?--size-mib needs a value}; shift 2 ;;
    --files) FILES=${2:?--files needs a value}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
    --rounds) ROUNDS=${2:?--rounds needs a value}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --rounds (BENCH_ROUNDS) must be a positive integer, not '$ROUNDS'" >&2; exit 2; }

read -r -a TOOLS <<<"${BENCH_TOOLS:-planvault restic}"
for t in "${TOOLS[@]}"; do
  [[ $t == planvault || $t == restic ]] || { echo "run.sh: unknown tool in BENCH_TOOLS: $t" >&2; exit 2; }
done
((${#TOOLS[@]})) || { echo "run.sh: BENCH_TOOLS is empty" >&2; exit 2; }
want() { [[ " ${TOOLS[*]} " == *" $1 "* ]]; }

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
GEN="$SCRIPT_DIR/make-plan-folder.py"

case ":$PATH:" in *:/opt/swift/usr/bin:*) ;; *) export PATH="/opt/swift/usr/bin:$PATH" ;; esac

# Machine load when the script starts (before generating data); see the report.
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
source "$SCRIPT_DIR/host-load.sh"
CPU_START=$(cpu_counters)
CORES=$(nproc)

# ---------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------

SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
apt_install() { # apt_install PACKAGE: install from Debian, refreshing the lists only if needed
  echo "installing $1 with apt-get..."
  $SUDO apt-get install -y "$1" >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y "$1" >/dev/null; }
}

command -v python3 >/dev/null || { echo "run.sh: python3 is required" >&2; exit 1; }
[[ -x /usr/bin/time ]] || apt_install time
if want restic && ! command -v restic >/dev/null; then apt_install restic; fi

BASE=${BENCH_DIR:-/tmp}
mkdir -p "$BASE"
WORK=$(mktemp -d "$BASE/planvault-bench.XXXXXX")
WORK=$(cd "$WORK" && pwd -P) # restic stores the absolute, symlink-free path
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
  if ((KEEP)); then
    echo "work dir kept: $WORK (source, repositories and restores of each round kept)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs"

if want planvault; then
  if [[ -n ${PLANVAULT_BIN:-} ]]; then
    PV=$PLANVAULT_BIN
  else
    echo "building planvault (release)..."
    if ! (cd "$REPO_ROOT" && swift build -c release --product planvault) >"$WORK/logs/build.log" 2>&1; then
      echo "run.sh: swift build failed; last lines:" >&2
      tail -n 30 "$WORK/logs/build.log" >&2
      exit 1
    fi
    PV="$(cd "$REPO_ROOT" && swift build -c release --show-bin-path)/planvault"
  fi
  [[ -x $PV ]] || { echo "run.sh: planvault binary not found at $PV" >&2; exit 1; }
fi

# Both tools: same fixed passphrase, fresh caches inside the work dir (emptied
# at the start of every round), and no stray settings from the caller's
# environment or a planvault.toml in the current folder (planvault reads one
# from there; the steps run in $WORK).
unset PLANVAULT_REPO PLANVAULT_KEYS_FILE RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE \
  RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND
export PLANVAULT_PASSPHRASE="planvault-bench-not-a-secret"
export RESTIC_PASSWORD="$PLANVAULT_PASSPHRASE"
PRISTINE="$WORK/pristine"
round_paths() { # round_paths DIR: this round's source, repositories, restore folders and caches
  SRC="$1/plans"
  REPO_PV="$1/repo-planvault"
  REPO_RS="$1/repo-restic"
  RESTORE_PV="$1/restore-planvault"
  RESTORE_RS="$1/restore-restic"
  export PLANVAULT_CACHE_DIR="$1/cache/planvault"
  export RESTIC_CACHE_DIR="$1/cache/restic"
}
round_paths "$WORK/round-1"

# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

STEPS=(init push1 push2 push3 restore verify)
declare -A LABEL=([init]="init" [push1]="first push" [push2]="no-change push"
  [push3]="incremental push" [restore]="restore latest" [verify]="verify --read-data")
declare -A RES=()      # [tool.step.round] = "wall user sys maxrss_kib"
declare -A FAILED=()   # [tool] = first step (and round) that failed; the tool is skipped from then on
declare -A SIZE1=() SIZE3=() CHECK=() SNAPS=() # sizes: [tool] = last round, [tool.round] = each round
NOTES=()
ROUND=0

cmd_for() { # cmd_for TOOL STEP: sets CMD to the command line
  case "$1:$2" in
    planvault:init) CMD=("$PV" init --repo "$REPO_PV") ;;
    planvault:push*) CMD=("$PV" push --repo "$REPO_PV" "$SRC") ;;
    # planvault restore ends with a syncfs of the destination itself.
    planvault:restore) CMD=("$PV" restore latest --repo "$REPO_PV" --to "$RESTORE_PV") ;;
    planvault:verify) CMD=("$PV" verify --repo "$REPO_PV" --read-data) ;;
    restic:init) CMD=(restic -r "$REPO_RS" init) ;;
    restic:push*) CMD=(restic -r "$REPO_RS" backup "$SRC") ;;
    # restic does not sync; time it to the disk too (sync -f = syncfs of that
    # filesystem).  /usr/bin/time's %M is the largest max RSS in the waited
    # tree, so it is still restic's peak, not bash's.
    restic:restore)
      # shellcheck disable=SC2016 # $1 and $2 are bash -c's arguments
      CMD=(bash -c 'restic -r "$1" restore latest --target "$2" && sync -f "$2"' restic-restore "$REPO_RS" "$RESTORE_RS") ;;
    restic:verify) CMD=(restic -r "$REPO_RS" check --read-data) ;;
  esac
}

run_step() { # run_step TOOL STEP: time one step of this round, record it, or mark the tool failed
  local tool=$1 step=$2 rc=0 wall user sys rss
  [[ -z ${FAILED[$tool]:-} ]] || return 0
  cmd_for "$tool" "$step"
  local tf="$WORK/logs/r$ROUND-$tool-$step.time" log="$WORK/logs/r$ROUND-$tool-$step.log"
  [[ $step == restore || $step == verify ]] && drop_caches
  /usr/bin/time -o "$tf" -f '%e %U %S %M' "${CMD[@]}" >"$log" 2>&1 </dev/null || rc=$?
  # 0 = ok; for pushes 3 = partial (some files unreadable) for both tools.
  if ! [[ $rc -eq 0 || ($rc -eq 3 && $step == push*) ]]; then
    FAILED[$tool]="${LABEL[$step]}, round $ROUND (exit $rc)"
    echo "  $tool: ${LABEL[$step]} FAILED (exit $rc); last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    /'
    return 0
  fi
  ((rc == 0)) || NOTES+=("$tool ${LABEL[$step]} exited $rc in round $ROUND (some files could not be read)")
  read -r wall user sys rss < <(tail -n 1 "$tf")
  RES[$tool.$step.$ROUND]="$wall $user $sys $rss"
  awk -v t="$tool" -v s="${LABEL[$step]}" -v w="$wall" -v u="$user" -v y="$sys" -v m="$rss" \
    'BEGIN{printf "  %-9s %-19s %8.2fs wall %8.2fs cpu %8.1f MiB peak\n", t, s, w, u + y, m / 1024}'
}

# Restore and verify read the whole repository. planvault writes its bundles around the page
# cache and restic does not, so restic's repository would still be in memory and planvault's
# not: each of these steps starts with the page cache emptied (outside the timing), as on the
# alternate site's machine, which has never read the repository. Needs root; otherwise said.
DROP_CACHES=${BENCH_DROP_CACHES:-1}
if [[ $DROP_CACHES == 1 ]] && ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
  DROP_CACHES=0
  NOTES+=("the page cache could not be emptied before restore and verify (needs root): restic's repository may have been read from memory, planvault's from disk")
elif [[ $DROP_CACHES != 1 ]]; then
  NOTES+=("BENCH_DROP_CACHES=$DROP_CACHES: restore and verify did not start with an empty page cache")
fi
drop_caches() { # drop_caches: write dirty data out, then empty the page cache (when allowed)
  [[ $DROP_CACHES == 1 ]] || return 0
  sync
  echo 3 >/proc/sys/vm/drop_caches || { echo "run.sh: could not empty the page cache" >&2; exit 1; }
}

PHASE=0
phase() { # phase STEP: run STEP for every tool, alternating who goes first
  local order=("${TOOLS[@]}")
  if ((PHASE % 2 == 1 && ${#TOOLS[@]} == 2)); then order=("${TOOLS[1]}" "${TOOLS[0]}"); fi
  PHASE=$((PHASE + 1))
  echo "[${LABEL[$1]}]"
  local t
  for t in "${order[@]}"; do run_step "$t" "$1"; done
}

repo_of() { [[ $1 == planvault ]] && echo "$REPO_PV" || echo "$REPO_RS"; }
repo_size() { # repo_size TOOL: bytes on disk, or empty if the tool failed
  if [[ -z ${FAILED[$1]:-} && -d $(repo_of "$1") ]]; then du -sb "$(repo_of "$1")" | cut -f1; fi
}

manifest() { # manifest DIR OUT: content hashes, symlinks and empty dirs, relative paths
  (
    cd "$1"
    export LC_ALL=C
    find . -type f -print0 | sort -z | xargs -0 -r sha256sum >"$2.files"
    find . -type l -printf '%p -> %l\n' | sort >"$2.links"
    find . -type d -empty -print | sort >"$2.emptydirs"
  )
}

check_restore() { # check_restore TOOL: compare this round's restored tree with the source
  local tool=$1 root what bad=""
  [[ -z ${FAILED[$tool]:-} ]] || return 0
  if [[ $tool == planvault ]]; then root="$RESTORE_PV/$(basename "$SRC")"; else root="$RESTORE_RS$SRC"; fi
  if [[ ! -d $root ]]; then
    CHECK[$tool]=${CHECK[$tool]:-"FAIL (round $ROUND: nothing restored)"}
    echo "  $tool: FAIL — expected the restored tree at $root"
    return 0
  fi
  manifest "$root" "$WORK/manifest-$tool"
  for what in files links emptydirs; do
    if ! cmp -s "$WORK/manifest-src.$what" "$WORK/manifest-$tool.$what"; then
      bad+=" $what"
      echo "  $tool: $what differ from the source (first lines of the diff, < source, > restored):"
      diff "$WORK/manifest-src.$what" "$WORK/manifest-$tool.$what" | head -n 10 | sed 's/^/    /' || true
    fi
  done
  # CHECK keeps the first failure over all rounds; PASS only if every round passed.
  if [[ -z $bad ]]; then
    CHECK[$tool]=${CHECK[$tool]:-PASS}
    echo "  $tool: PASS ($(wc -l <"$WORK/manifest-$tool.files") files compared)"
  else
    [[ ${CHECK[$tool]:-PASS} == PASS ]] && CHECK[$tool]="FAIL (round $ROUND: ${bad# })"
    echo "  $tool: FAIL (${bad# }; $(wc -l <"$WORK/manifest-$tool.files") files compared)"
  fi
}

count_snapshots() { # count_snapshots TOOL: number of snapshots from the JSON listing
  local out="$WORK/logs/r$ROUND-$1-snapshots.json"
  [[ -z ${FAILED[$1]:-} ]] || return 0
  if [[ $1 == planvault ]]; then
    "$PV" snapshots --repo "$REPO_PV" --json >"$out" 2>"$out.err" </dev/null || return 0
  else
    restic -r "$REPO_RS" snapshots --json >"$out" 2>"$out.err" </dev/null || return 0
  fi
  SNAPS[$1]=$(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if isinstance(d, dict):
    d = d.get("snapshots", [])
print(len(d))' "$out" 2>/dev/null || true)
}

KEEP_ROUNDS=1 # set before round 1: whether every round's files fit on the disk at once
reset_round() { # reset_round: fresh source (from the pristine copy), repositories, restore folders, caches
  local dir="$WORK/round-$ROUND"
  if ((!KEEP_ROUNDS && ROUND > 1)); then rm -rf "$WORK/round-$((ROUND - 1))"; fi
  round_paths "$dir"
  mkdir -p "$dir/cache"
  cp -a "$PRISTINE" "$SRC" # -a keeps the generated mtimes
  sync -f "$WORK" # write the copy out now, not during a timed step
}

declare -A COPY=() # [round] = wall seconds of the disk copy
time_disk_copy() { # time_disk_copy: the disk's pace for a restore's I/O (read the source, write a copy, sync)
  local out="$WORK/round-$ROUND/disk-copy" tf="$WORK/logs/r$ROUND-disk-copy.time"
  drop_caches
  # shellcheck disable=SC2016 # $1 and $2 are bash -c's arguments
  if /usr/bin/time -o "$tf" -f '%e' bash -c 'cp -a "$1" "$2" && sync -f "$2"' disk-copy "$SRC" "$out" 2>>"$WORK/logs/disk-copy.log"; then
    COPY[$ROUND]=$(tail -n 1 "$tf")
    echo "[disk copy] cp -a of the source and a syncfs, from an empty page cache: ${COPY[$ROUND]}s"
  else
    NOTES+=("the disk copy of round $ROUND failed (see logs/disk-copy.log)")
  fi
}

run_round() { # run_round: one round of every step for every tool
  reset_round
  # Six phases per round: skip one to swap who goes first from one round to the next.
  ((ROUND == 1)) || PHASE=$((PHASE + 1))
  phase init
  phase push1
  for t in "${TOOLS[@]}"; do SIZE1[$t]=$(repo_size "$t"); SIZE1[$t.$ROUND]=${SIZE1[$t]}; done
  phase push2
  echo "[mutate]"
  python3 "$GEN" "$SRC" --mutate --seed "$SEED" | sed 's/^/  /'
  sync -f "$SRC"
  phase push3
  for t in "${TOOLS[@]}"; do
    SIZE3[$t]=$(repo_size "$t")
    SIZE3[$t.$ROUND]=${SIZE3[$t]}
    count_snapshots "$t"
  done

  SRC_BYTES=$(du -sb "$SRC" | cut -f1)
  SRC_FILES=$(find "$SRC" -type f | wc -l)
  manifest "$SRC" "$WORK/manifest-src"
  mkdir -p "$RESTORE_PV" "$RESTORE_RS"
  phase restore
  echo "[restore check]"
  for t in "${TOOLS[@]}"; do check_restore "$t"; done
  time_disk_copy
  phase verify
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------

echo "work dir: $WORK"
echo "machine: $CORES cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); tools: ${TOOLS[*]}; rounds: $ROUNDS"
echo "load before: $LOAD_BEFORE (1, 5, 15 min; $CORES cores)"
want restic && echo "restic: $(restic version | head -n 1)"
want planvault && echo "planvault: $PV"
[[ $DROP_CACHES == 1 ]] && echo "page cache: emptied before each restore and verify (both tools read their repository from disk)"
cd "$WORK"
echo "[generate] $SIZE_MIB MiB, $FILES files, seed $SEED (once; each round starts from a copy)"
python3 "$GEN" "$PRISTINE" --size-mib "$SIZE_MIB" --files "$FILES" --seed "$SEED" | sed 's/^/  /'

all_failed() { # all_failed: true when every tool has failed (no round left to run)
  local t
  for t in "${TOOLS[@]}"; do [[ -n ${FAILED[$t]:-} ]] || return 1; done
}

# Each round holds a source copy, two repositories, two restores and the disk copy: about 6
# times the folder.
NEED_KIB=$((ROUNDS * 6 * SIZE_MIB * 1024))
FREE_KIB=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if ((FREE_KIB < NEED_KIB)); then
  KEEP_ROUNDS=0
  NOTES+=("each round deleted the previous one's files (${FREE_KIB} KiB free, $NEED_KIB KiB needed to keep all): on ext4 without a journal, restore times then include scans past the deleted inodes")
fi
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
  if all_failed; then echo "=== rounds $ROUND to $ROUNDS skipped: every tool failed ==="; break; fi
  echo "=== round $ROUND of $ROUNDS (load $(cut -d' ' -f1-3 /proc/loadavg)) ==="
  run_round
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

declare -A BEST=() WALLS=() PEAK=() PEAK_AT=()
best_of() { # best_of TOOL STEP: BEST[tool.step] = fastest round's "wall user sys rss", WALLS = every round's wall
  local r v b="" w=""
  for ((r = 1; r <= ROUNDS; r++)); do
    v=${RES[$1.$2.$r]:-}
    if [[ -z $v ]]; then w+=" -"; continue; fi
    w+=" ${v%% *}"
    if [[ -z $b ]] || awk -v a="${v%% *}" -v c="${b%% *}" 'BEGIN{exit !(a + 0 < c + 0)}'; then b=$v; fi
  done
  BEST[$1.$2]=$b
  WALLS[$1.$2]=${w# }
}
peak_of() { # peak_of TOOL: PEAK[tool] = highest max RSS (KiB) over all rounds and steps, PEAK_AT = where
  local s r v
  for s in "${STEPS[@]}"; do
    for ((r = 1; r <= ROUNDS; r++)); do
      v=${RES[$1.$s.$r]:-}
      [[ -n $v ]] || continue
      v=${v##* }
      if ((v > ${PEAK[$1]:-0})); then PEAK[$1]=$v; PEAK_AT[$1]="${LABEL[$s]}, round $r"; fi
    done
  done
}
for t in planvault restic; do
  for s in "${STEPS[@]}"; do best_of "$t" "$s"; done
  peak_of "$t"
done

cell() { # cell "wall user sys rss": wall, cpu (user+sys), peak RSS in MiB
  if [[ -z $1 ]]; then printf '%9s %9s %9s' - - -; return; fi
  awk -v s="$1" 'BEGIN{split(s, a, " "); printf "%8.2fs %8.2fs %9.1f", a[1], a[2] + a[3], a[4] / 1024}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
mib() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN{printf "%.1f MiB", b / 1048576}' || echo "-"; }
first() { echo "${1%% *}"; }
size_rounds() { # size_rounds TOOL SIZE-ARRAY-NAME: every round's repository size in MiB
  local -n sizes=$2
  local r out=""
  for ((r = 1; r <= ROUNDS; r++)); do
    out+=" $(awk -v b="${sizes[$1.$r]:-}" 'BEGIN{if (b == "") print "-"; else printf "%.1f", b / 1048576}')"
  done
  echo "${out# }"
}
at_least() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "-" && a != "" && a + 0 >= b + 0)}'; }
RULE="---------------------+-------------------------------+-------------------------------+------------"

echo
echo "PlanVault benchmark: $(mib "$SRC_BYTES") in $SRC_FILES files after mutation (seed $SEED)"
echo "best of $ROUNDS rounds per step (wall); cpu and peak are from that round; load before $LOAD_BEFORE ($CORES cores)"
printf '%-20s | %-29s | %-29s | %s\n' "" "planvault" "restic" "restic/"
printf '%-20s | %9s %9s %9s | %9s %9s %9s | %s\n' "step" "wall" "cpu" "peak MiB" "wall" "cpu" "peak MiB" "planvault"
printf '%s\n' "$RULE"
for s in "${STEPS[@]}"; do
  pv=${BEST[planvault.$s]} rs=${BEST[restic.$s]}
  printf '%-20s | %s | %s | %s\n' "${LABEL[$s]}" "$(cell "$pv")" "$(cell "$rs")" "$(ratio "$(first "$rs")" "$(first "$pv")")"
  printf '%-20s | %-29s | %-29s |\n' "  rounds (wall s)" "${WALLS[planvault.$s]}" "${WALLS[restic.$s]}"
done
printf '%s\n' "$RULE"
peak_mib() { [[ -n ${PEAK[$1]:-} ]] && mib "$((PEAK[$1] * 1024))" || echo "-"; }
printf '%-20s | %29s | %29s |\n' "peak MiB, all rounds" "$(peak_mib planvault)" "$(peak_mib restic)"
printf '%-20s | %29s | %29s | %s\n' "repo after 1st push" "$(mib "${SIZE1[planvault]:-}")" "$(mib "${SIZE1[restic]:-}")" \
  "$(ratio "${SIZE1[restic]:-}" "${SIZE1[planvault]:-}")"
printf '%-20s | %-29s | %-29s |\n' "  rounds (MiB)" "$(size_rounds planvault SIZE1)" "$(size_rounds restic SIZE1)"
printf '%-20s | %29s | %29s | %s\n' "repo after 3 pushes" "$(mib "${SIZE3[planvault]:-}")" "$(mib "${SIZE3[restic]:-}")" \
  "$(ratio "${SIZE3[restic]:-}" "${SIZE3[planvault]:-}")"
printf '%-20s | %-29s | %-29s |\n' "  rounds (MiB)" "$(size_rounds planvault SIZE3)" "$(size_rounds restic SIZE3)"
printf '%-20s | %29s | %29s |\n' "snapshots" "${SNAPS[planvault]:--}" "${SNAPS[restic]:--}"
printf '%-20s | %29s | %29s |\n' "restore check" "${CHECK[planvault]:--}" "${CHECK[restic]:--}"
echo "restic/planvault: above 1 means planvault is faster (wall) or its repository is smaller (size)."
echo "repository sizes and snapshots: last round; the growth from the incremental push varies from round"
echo "to round (restic draws a new chunker polynomial for every repository), see the rounds lines."

goal() { # goal TEXT MET FIGURE: one line of the goals block; MET is met, "NOT met" or "not judged"
  printf '  %-46s %-10s %s\n' "$1" "$2" "$3"
}
goal_ratio() { # goal_ratio STEP MIN: restic wall / planvault wall of the best rounds, at least MIN
  local r
  r=$(ratio "$(first "${BEST[restic.$1]}")" "$(first "${BEST[planvault.$1]}")")
  if [[ $r == - ]]; then
    goal "${LABEL[$1]}: restic/planvault wall >= $2" "not judged" "(no figure)"
  elif at_least "$(awk -v a="$(first "${BEST[restic.$1]}")" -v b="$(first "${BEST[planvault.$1]}")" 'BEGIN{print a / b}')" "$2"; then
    goal "${LABEL[$1]}: restic/planvault wall >= $2" "met" "$r"
  else
    goal "${LABEL[$1]}: restic/planvault wall >= $2" "NOT met" "$r"
  fi
}
if ((${#COPY[@]})); then
  # The restores' floor on this disk: a plain copy moves the same file bytes with no decoding.
  best_copy=$(printf '%s\n' "${COPY[@]}" | sort -g | head -n 1)
  echo
  echo "disk pace (cp -a of the source and a syncfs, from an empty page cache): best ${best_copy}s," \
    "rounds: $(for r in $(seq 1 "$ROUNDS"); do printf '%s ' "${COPY[$r]:--}"; done)"
  for t in "${TOOLS[@]}"; do
    [[ -n ${BEST[$t.restore]:-} ]] || continue
    echo "  $t restore latest took $(ratio "$(first "${BEST[$t.restore]}")" "$best_copy") times the copy's time"
  done
fi
echo
echo "goals (issue 12, from the best rounds; they do not change the exit status):"
goal_ratio push1 1.5
goal_ratio restore 1.5
goal_ratio push2 2
if [[ -z ${SIZE3[planvault]:-} || -z ${SIZE3[restic]:-} ]]; then
  goal "repo after 3 pushes <= restic's (last round)" "not judged" "(no figure)"
else
  fig="$(mib "${SIZE3[planvault]}") vs $(mib "${SIZE3[restic]}"), restic/planvault $(ratio "${SIZE3[restic]}" "${SIZE3[planvault]}")"
  if ((SIZE3[planvault] <= SIZE3[restic])); then goal "repo after 3 pushes <= restic's (last round)" "met" "$fig"; else
    goal "repo after 3 pushes <= restic's (last round)" "NOT met" "$fig"; fi
fi
if [[ -z ${PEAK[planvault]:-} ]]; then
  goal "planvault peak memory <= 200 MiB" "not judged" "(no figure)"
else
  fig="$(mib "$((PEAK[planvault] * 1024))") (${PEAK_AT[planvault]})"
  if ((PEAK[planvault] <= 200 * 1024)); then goal "planvault peak memory <= 200 MiB" "met" "$fig"; else
    goal "planvault peak memory <= 200 MiB" "NOT met" "$fig"; fi
fi
echo
echo "load after: $LOAD_AFTER (before: $LOAD_BEFORE; 1, 5, 15 min; $CORES cores)"
echo "CPU time taken by the host for other guests during the run (steal): $(steal_since "$CPU_START")"

status=0
keepnote=""
((KEEP)) || keepnote=", removed at exit: re-run with --keep to keep them"
for t in "${TOOLS[@]}"; do
  if [[ -n ${FAILED[$t]:-} ]]; then
    echo "$t FAILED at: ${FAILED[$t]} (logs in $WORK/logs$keepnote)"
    status=1
  fi
  if [[ ${CHECK[$t]:-} == FAIL* ]]; then status=1; fi
done
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $n"; done
if ((status == 0)); then echo "result: PASS"; else echo "result: FAIL"; fi
exit "$status"
