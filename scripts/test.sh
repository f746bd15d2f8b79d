#!/usr/bin/env bash
# Builds once (library, executable and tests), then runs the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build
