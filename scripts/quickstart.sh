#!/usr/bin/env bash
# One command from a fresh clone: build PlanVault, create a local repository in ./demo/repo,
# push the example plan folder, restore it, check the restore is identical, and verify.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
swift build -c release --product planvault 2>&1 | tail -1
pv="$(swift build -c release --show-bin-path)/planvault"

mkdir -p demo
# A demo passphrase in a private file: real deployments use a keys file or a secret manager.
if [[ ! -f demo/passphrase ]]; then
  (umask 077; head -c 24 /dev/urandom | base64 > demo/passphrase)
fi
export PLANVAULT_REPO="$PWD/demo/repo" PLANVAULT_CACHE_DIR="$PWD/demo/cache"
auth=(--passphrase-file demo/passphrase)

[[ -f demo/repo/config ]] || "$pv" init "${auth[@]}" --label "quickstart"
"$pv" push "${auth[@]}" --tag quickstart Examples/plans
"$pv" snapshots "${auth[@]}"
restore_dir="demo/restore-$(date +%Y%m%d-%H%M%S)"
"$pv" restore latest "${auth[@]}" --to "$restore_dir"
diff -r Examples/plans "$restore_dir/plans" && echo "restore is identical to Examples/plans"
"$pv" verify "${auth[@]}" --read-data --max-age 26h
echo "repository: demo/repo   passphrase: demo/passphrase   binary: $pv"
