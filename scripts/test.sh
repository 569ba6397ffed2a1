#!/usr/bin/env bash
# The test command: installs what the build needs, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# The suite is XCTest; Swift Testing's empty run would only add a "0 tests" line.
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1 || true)
if [ -n "$summary" ]; then
  total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.*with ([0-9]+) failures?.*/\1/')
  echo "tests: $((total - failed)) passed, $failed failed"
fi
# A bounded coverage-guided fuzzing run of every parser of untrusted bytes (see scripts/fuzz.sh),
# seeded so that what CI explores is what a local run with the same seed explores.
fuzz_seconds=${SAEPIPE_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
  FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "$fuzz_seconds" || status=1
fi
exit "$status"
