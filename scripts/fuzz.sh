#!/usr/bin/env bash
# Fuzzes PlanVault's parsers of outside bytes with libFuzzer.
#
#   scripts/fuzz.sh [TARGET[,TARGET...]|all] [SECONDS]     (defaults: all, 600 seconds per target)
#
# Builds the harnesses (debug, --sanitize=fuzzer, into .build-fuzz so the normal .build is left
# alone), seeds Fuzz/corpus/TARGET from PlanVault's own writers when it is empty, then runs each
# target for SECONDS. FUZZ_PARALLEL=N runs N targets at once (default 1). Crashing, hanging and
# allocation-bomb inputs land in Fuzz/findings/TARGET/; logs in .build-fuzz/logs/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

core_targets=(index bundle-header snapshot tree sealed-object key-file attestation config)
server_targets=(tokens request)
http_targets=(s3-xml)
all_targets=("${core_targets[@]}" "${server_targets[@]}" "${http_targets[@]}")

product_of() {
  local t
  for t in "${core_targets[@]}"; do [[ $t == "$1" ]] && { echo PlanVaultCoreFuzz; return; }; done
  for t in "${server_targets[@]}"; do [[ $t == "$1" ]] && { echo PlanVaultServerFuzz; return; }; done
  for t in "${http_targets[@]}"; do [[ $t == "$1" ]] && { echo PlanVaultHTTPFuzz; return; }; done
  echo "fuzz: unknown target '$1'; targets: all ${all_targets[*]}" >&2
  exit 2
}

target=${1:-all}
seconds=${2:-600}
parallel=${FUZZ_PARALLEL:-1}
if [[ $target == all ]]; then targets=("${all_targets[@]}"); else IFS=, read -r -a targets <<<"$target"; fi

scratch=.build-fuzz
products=()
for t in "${targets[@]}"; do
  p=$(product_of "$t")
  [[ " ${products[*]} " == *" $p "* ]] || products+=("$p")
done
for p in "${products[@]}"; do
  echo "fuzz: building $p (debug, --sanitize=fuzzer)" >&2
  # The harness targets exist only when PLANVAULT_FUZZ=1 (see Package.swift).
  PLANVAULT_FUZZ=1 swift build --scratch-path "$scratch" --sanitize=fuzzer --product "$p" 2>&1 \
    | grep -v "Cannot export local symbol" | tail -5
  [[ -x $scratch/debug/$p ]] || { echo "fuzz: building $p failed" >&2; exit 1; }
done

# Crashes go to libFuzzer, not to Swift's backtracer.
export SWIFT_BACKTRACE=enable=no
mkdir -p "$scratch/logs"

run_one() {
  local t=$1 bin corpus findings
  bin=$scratch/debug/$(product_of "$t")
  corpus=Fuzz/corpus/$t
  findings=Fuzz/findings/$t
  mkdir -p "$corpus" "$findings"
  if [[ -z $(ls -A "$corpus") ]]; then
    local seeds
    seeds=$(mktemp -d)
    PLANVAULT_FUZZ_SEEDS=$seeds "$bin"
    cp "$seeds/$t"/* "$corpus"/
    rm -rf "$seeds"
  fi
  # An allocation over 512 MB, a process over FUZZ_RSS_LIMIT_MB (default 2048) or an input running
  # over 10 s counts as a finding. Foundation's XMLParser leaks a little on every reply it fails to
  # parse, so a long s3-xml run needs a higher FUZZ_RSS_LIMIT_MB (8192 for 10 minutes).
  local started=$SECONDS
  PLANVAULT_FUZZ_TARGET=$t "$bin" "$corpus" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb="${FUZZ_RSS_LIMIT_MB:-2048}" -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$findings/" \
    >"$scratch/logs/$t.log" 2>&1 || true
  local elapsed=$((SECONDS - started)) runs files bytes crashes
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$scratch/logs/$t.log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(du -sb "$corpus" | cut -f1)
  crashes=$(find "$findings" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  printf 'fuzz: %-14s %6ss  runs %-10s corpus %5s files %9s bytes  findings %s\n' \
    "$t" "$elapsed" "${runs:-?}" "$files" "$bytes" "$crashes"
  [[ $crashes -eq 0 ]] || ls "$findings"/{crash,timeout,oom,leak}-* 2>/dev/null | sed 's/^/fuzz:   /'
}

running=0
for t in "${targets[@]}"; do
  if ((running >= parallel)); then wait -n || true; running=$((running - 1)); fi
  run_one "$t" &
  running=$((running + 1))
done
wait
