#!/usr/bin/env bash
# Benchmarks/run.sh — time planvault against restic on the same generated plan folder.
#
# Usage: Benchmarks/run.sh [--size-mib N] [--files N] [--seed N] [--keep]
#
# Environment:
#   BENCH_TOOLS     tools to run, in this order (default "planvault restic")
#   BENCH_DIR       parent of the temporary work dir (default /tmp)
#   PLANVAULT_BIN   use this planvault binary instead of building one
#
# Steps, per tool: init, first push, no-change push, incremental push (after
# make-plan-folder.py --mutate), restore latest into an empty dir, verify with a
# full data read.  The tools alternate within each phase (and swap who goes
# first from one phase to the next) so both see the same page-cache state.
# Each step is timed with /usr/bin/time; see Benchmarks/README.md.
set -euo pipefail

SIZE_MIB=1024
FILES=5000
SEED=1
KEEP=0

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
  case "$1" in
    --size-mib) SIZE_MIB=${2:?--size-mib needs a value}; shift 2 ;;
    --files) FILES=${2:?--files needs a value}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a value}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

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
    echo "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
mkdir -p "$WORK/logs" "$WORK/cache"

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

# Both tools: same fixed passphrase, fresh caches inside the work dir, and no
# stray settings from the caller's environment or a planvault.toml in the
# current folder (planvault reads one from there; the steps run in $WORK).
unset PLANVAULT_REPO PLANVAULT_KEYS_FILE RESTIC_REPOSITORY RESTIC_REPOSITORY_FILE \
  RESTIC_PASSWORD_FILE RESTIC_PASSWORD_COMMAND
export PLANVAULT_PASSPHRASE="planvault-bench-not-a-secret"
export RESTIC_PASSWORD="$PLANVAULT_PASSPHRASE"
export PLANVAULT_CACHE_DIR="$WORK/cache/planvault"
export RESTIC_CACHE_DIR="$WORK/cache/restic"

SRC="$WORK/plans"
REPO_PV="$WORK/repo-planvault"
REPO_RS="$WORK/repo-restic"
RESTORE_PV="$WORK/restore-planvault"
RESTORE_RS="$WORK/restore-restic"

# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------

STEPS=(init push1 push2 push3 restore verify)
declare -A LABEL=([init]="init" [push1]="first push" [push2]="no-change push"
  [push3]="incremental push" [restore]="restore latest" [verify]="verify --read-data")
declare -A RES=()      # [tool.step] = "wall user sys maxrss_kib"
declare -A FAILED=()   # [tool] = first step that failed
declare -A SIZE1=() SIZE3=() CHECK=() SNAPS=()
NOTES=()

cmd_for() { # cmd_for TOOL STEP: sets CMD to the command line
  case "$1:$2" in
    planvault:init) CMD=("$PV" init --repo "$REPO_PV") ;;
    planvault:push*) CMD=("$PV" push --repo "$REPO_PV" "$SRC") ;;
    planvault:restore) CMD=("$PV" restore latest --repo "$REPO_PV" --to "$RESTORE_PV") ;;
    planvault:verify) CMD=("$PV" verify --repo "$REPO_PV" --read-data) ;;
    restic:init) CMD=(restic -r "$REPO_RS" init) ;;
    restic:push*) CMD=(restic -r "$REPO_RS" backup "$SRC") ;;
    restic:restore) CMD=(restic -r "$REPO_RS" restore latest --target "$RESTORE_RS") ;;
    restic:verify) CMD=(restic -r "$REPO_RS" check --read-data) ;;
  esac
}

run_step() { # run_step TOOL STEP: time one step, record it, or mark the tool failed
  local tool=$1 step=$2 rc=0 wall user sys rss
  [[ -z ${FAILED[$tool]:-} ]] || return 0
  cmd_for "$tool" "$step"
  local tf="$WORK/logs/$tool-$step.time" log="$WORK/logs/$tool-$step.log"
  /usr/bin/time -o "$tf" -f '%e %U %S %M' "${CMD[@]}" >"$log" 2>&1 </dev/null || rc=$?
  # 0 = ok; for pushes 3 = partial (some files unreadable) for both tools.
  if ! [[ $rc -eq 0 || ($rc -eq 3 && $step == push*) ]]; then
    FAILED[$tool]="${LABEL[$step]} (exit $rc)"
    echo "  $tool: ${LABEL[$step]} FAILED (exit $rc); last lines of $log:"
    tail -n 15 "$log" | sed 's/^/    /'
    return 0
  fi
  ((rc == 0)) || NOTES+=("$tool ${LABEL[$step]} exited $rc (some files could not be read)")
  read -r wall user sys rss < <(tail -n 1 "$tf")
  RES[$tool.$step]="$wall $user $sys $rss"
  awk -v t="$tool" -v s="${LABEL[$step]}" -v w="$wall" -v u="$user" -v y="$sys" -v m="$rss" \
    'BEGIN{printf "  %-9s %-19s %8.2fs wall %8.2fs cpu %8.1f MiB peak\n", t, s, w, u + y, m / 1024}'
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

check_restore() { # check_restore TOOL: compare the restored tree with the source
  local tool=$1 root what bad=""
  [[ -z ${FAILED[$tool]:-} ]] || return 0
  if [[ $tool == planvault ]]; then root="$RESTORE_PV/$(basename "$SRC")"; else root="$RESTORE_RS$SRC"; fi
  if [[ ! -d $root ]]; then
    CHECK[$tool]="FAIL (nothing restored at $root)"
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
  if [[ -z $bad ]]; then
    CHECK[$tool]="PASS"
  else
    CHECK[$tool]="FAIL (${bad# })"
  fi
  echo "  $tool: ${CHECK[$tool]} ($(wc -l <"$WORK/manifest-$tool.files") files compared)"
}

count_snapshots() { # count_snapshots TOOL: number of snapshots from the JSON listing
  local out="$WORK/logs/$1-snapshots.json"
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

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------

echo "work dir: $WORK"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); tools: ${TOOLS[*]}"
want restic && echo "restic: $(restic version | head -n 1)"
want planvault && echo "planvault: $PV"
cd "$WORK"
echo "[generate] $SIZE_MIB MiB, $FILES files, seed $SEED"
python3 "$GEN" "$SRC" --size-mib "$SIZE_MIB" --files "$FILES" --seed "$SEED" | sed 's/^/  /'

phase init
phase push1
for t in "${TOOLS[@]}"; do SIZE1[$t]=$(repo_size "$t"); done
phase push2
echo "[mutate]"
python3 "$GEN" "$SRC" --mutate --seed "$SEED" | sed 's/^/  /'
phase push3
for t in "${TOOLS[@]}"; do SIZE3[$t]=$(repo_size "$t"); count_snapshots "$t"; done

SRC_BYTES=$(du -sb "$SRC" | cut -f1)
SRC_FILES=$(find "$SRC" -type f | wc -l)
manifest "$SRC" "$WORK/manifest-src"
mkdir -p "$RESTORE_PV" "$RESTORE_RS"
phase restore
echo "[restore check]"
for t in "${TOOLS[@]}"; do check_restore "$t"; done
phase verify

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

cell() { # cell "wall user sys rss": wall, cpu (user+sys), peak RSS in MiB
  if [[ -z $1 ]]; then printf '%9s %9s %9s' - - -; return; fi
  awk -v s="$1" 'BEGIN{split(s, a, " "); printf "%8.2fs %8.2fs %9.1f", a[1], a[2] + a[3], a[4] / 1024}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
mib() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN{printf "%.1f MiB", b / 1048576}' || echo "-"; }
first() { echo "${1%% *}"; }

echo
echo "PlanVault benchmark: $(mib "$SRC_BYTES") in $SRC_FILES files after mutation (seed $SEED)"
printf '%-20s | %-29s | %-29s | %s\n' "" "planvault" "restic" "planvault/"
printf '%-20s | %9s %9s %9s | %9s %9s %9s | %s\n' "step" "wall" "cpu" "peak MiB" "wall" "cpu" "peak MiB" "restic wall"
printf '%s\n' "---------------------+-------------------------------+-------------------------------+------------"
for s in "${STEPS[@]}"; do
  pv=${RES[planvault.$s]:-} rs=${RES[restic.$s]:-}
  printf '%-20s | %s | %s | %s\n' "${LABEL[$s]}" "$(cell "$pv")" "$(cell "$rs")" "$(ratio "$(first "$pv")" "$(first "$rs")")"
done
printf '%s\n' "---------------------+-------------------------------+-------------------------------+------------"
printf '%-20s | %29s | %29s | %s\n' "repo after 1st push" "$(mib "${SIZE1[planvault]:-}")" "$(mib "${SIZE1[restic]:-}")" \
  "$(ratio "${SIZE1[planvault]:-}" "${SIZE1[restic]:-}")"
printf '%-20s | %29s | %29s | %s\n' "repo after 3 pushes" "$(mib "${SIZE3[planvault]:-}")" "$(mib "${SIZE3[restic]:-}")" \
  "$(ratio "${SIZE3[planvault]:-}" "${SIZE3[restic]:-}")"
printf '%-20s | %29s | %29s |\n' "snapshots" "${SNAPS[planvault]:--}" "${SNAPS[restic]:--}"
printf '%-20s | %29s | %29s |\n' "restore check" "${CHECK[planvault]:--}" "${CHECK[restic]:--}"

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
