#!/usr/bin/env bash
# The test command: installs what the build needs, then runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/install-deps.sh
swift build --build-tests
# TensorBoard's own reader (from PyPI) checks the event files training writes.
if ! python3 -c "import tensorboard" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check tensorboard >/dev/null 2>&1 \
    || echo "tensorboard: pip could not install it, so the event-file test will be skipped"
fi
# The browser test drives the feature browser in headless Chromium through Selenium.
scripts/install-deps.sh chromium chromium-driver
if ! python3 -c "import selenium" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check selenium >/dev/null
fi
export SAEPIPE_REQUIRE_BROWSER=1
# umap-learn is the reference saepipe's own UMAP (the feature map) is checked against.
if ! python3 -c "import umap" 2>/dev/null; then
  python3 -m pip install -q --disable-pip-version-check umap-learn >/dev/null
fi
export SAEPIPE_REQUIRE_UMAP=1
log=$(mktemp)
slurm_log=$(mktemp)
# The daemons are stopped at the end unless they were running before.
trap 'rm -f "$log" "$slurm_log"; if [ -n "${SLURM_CONF:-}" ] && [ -z "${SAEPIPE_SLURM_REUSED:-}" ]; then scripts/slurm-cluster.sh stop >/dev/null 2>&1 || true; fi' EXIT
status=0
# The Slurm executor's test submits to a real one-node Slurm started here; where its daemons
# cannot start, that test is skipped and says why.
if slurm_env=$(scripts/slurm-cluster.sh start 2>"$slurm_log"); then
  eval "$slurm_env"
  echo "slurm: a one-node cluster is up for the Slurm executor's test (SLURM_CONF=$SLURM_CONF)"
else
  echo "slurm: the daemons did not start, so the Slurm executor's test will be skipped: $(tr '\n' ' ' <"$slurm_log")"
fi
# The suite is XCTest; Swift Testing's empty run would only add a "0 tests" line.
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log" || status=$?
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with .*[0-9]+ failures?" "$log" | tail -1 || true)
if [ -n "$summary" ]; then
  total=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
  skipped=0
  if echo "$summary" | grep -qE "[0-9]+ tests? skipped"; then
    skipped=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests? skipped.*/\1/')
  fi
  echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
# A bounded coverage-guided fuzzing run of every parser of untrusted bytes (see scripts/fuzz.sh),
# seeded so that what CI explores is what a local run with the same seed explores.
fuzz_seconds=${SAEPIPE_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
  FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "$fuzz_seconds" || status=1
fi
exit "$status"
