#!/usr/bin/env bash
# Benchmarks/zlib-tune/zlib-tune.sh — zlib settings on a plan folder's compressible files.
#
# Usage: Benchmarks/zlib-tune/zlib-tune.sh PLAN-FOLDER [ROUNDS] [SETTING ...]
#
# Each SETTING is "LEVEL MEMLEVEL GOOD LAZY NICE CHAIN" (GOOD 0 keeps zlib's table for LEVEL).
# Default: PlanVault's level 3 tuned 4 16 64 8, the previous level 4 tuned 4 8 64 16, and plain level 4.
# Files whose name says they are compressed already (.docx, .zip, .jpg, ...) are left out, as
# PlanVault stores them without zlib. The settings take turns within each of ROUNDS rounds
# (default 3), and each is reported by its fastest round: on a shared VM, times of separate runs
# differ by ±15%, so compare settings measured together.
set -euo pipefail
DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PLANS=${1:?usage: zlib-tune.sh PLAN-FOLDER [ROUNDS] [SETTING ...]}
ROUNDS=${2:-3}
shift $(($# < 2 ? $# : 2))
SETTINGS=("$@")
((${#SETTINGS[@]})) || SETTINGS=("3 8 4 16 64 8" "4 8 4 8 64 16" "4 8 0 0 0 0")

WORK=$(mktemp -d /tmp/zlib-tune.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
cc -O2 -o "$WORK/zlib-tune" "$DIR/zlib-tune.c" -lz -lm
find "$PLANS" -type f ! -iregex '.*\.\(docx\|xlsx\|pptx\|odt\|ods\|odp\|zip\|7z\|gz\|tgz\|bz2\|xz\|zst\|rar\|jpg\|jpeg\|png\|gif\|webp\|heic\|mp3\|m4a\|aac\|ogg\|mp4\|m4v\|mov\|mkv\|webm\|avi\)' \
  | sort >"$WORK/files"
echo "$(wc -l <"$WORK/files") files under $PLANS; $ROUNDS rounds"
for ((round = 1; round <= ROUNDS; round++)); do
  for setting in "${SETTINGS[@]}"; do
    # shellcheck disable=SC2086 # the setting is six numbers
    "$WORK/zlib-tune" $setting <"$WORK/files"
  done
done | awk -F': ' '{ t = $2; sub(/.*zlib /, "", t); sub(/ s$/, "", t)
                    if (!($1 in best) || t + 0 < best[$1] + 0) { best[$1] = t; line[$1] = $0 }
                    if (!($1 in order)) { order[$1] = n++; keys[n - 1] = $1 } }
                  END { for (i = 0; i < n; i++) print line[keys[i]] }'
