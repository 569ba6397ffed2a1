#!/usr/bin/env bash
# Coverage-guided fuzzing of saepipe's parsers of untrusted bytes (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh SECONDS [TARGET...]   run each target (default: all) for SECONDS
#   scripts/fuzz.sh --list                list the targets
#   FUZZ_MAX_RUNS=N scripts/fuzz.sh …     also stop a target after N executions
#   FUZZ_SEED=N scripts/fuzz.sh …         fix libFuzzer's seed: a fresh corpus then explores the
#                                         same inputs in the same order (CI uses seed 1, so a
#                                         CI finding reproduces locally with the same seed)
#
# Builds Fuzz/ (a separate package: every module is compiled with -sanitize=fuzzer), seeds a
# working corpus per target in Fuzz/.corpus/TARGET from Fuzz/seeds and the test fixtures, and
# writes any crashing input to Fuzz/.findings/TARGET/. Prints executions and findings per
# target; exits 1 if any target found a crash, leak, timeout or out-of-memory input.
# Replay one input: Fuzz/.build/release/saepipe-fuzz TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if [[ -d /opt/swift/usr/bin ]]; then export PATH=/opt/swift/usr/bin:$PATH; fi

binary="$root/Fuzz/.build/release/saepipe-fuzz"
build() {
    mkdir -p Fuzz/.package-link
    ln -sfn ../.. Fuzz/.package-link/saepipe
    # The dependency is reached through a symlink, so SwiftPM misses added source files
    # unless it plans the build afresh.
    rm -f Fuzz/.build/release.yaml
    # lld: gold fails on the sanitizer's debug info; the Swift backtracer would race libFuzzer's handler.
    local log=Fuzz/.build-log.txt
    echo "building the fuzz targets (log: $log)…"
    if ! (cd Fuzz && swift build -c release -Xswiftc -sanitize=fuzzer,address \
        -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld) >"$log" 2>&1; then
        grep -E 'error' "$log" | head -20 >&2
        echo "fuzz build failed; see $log" >&2
        exit 2
    fi
}

if [[ "${1:-}" == "--list" ]]; then build; "$binary" 2>&1 | tail -n +2; exit 0; fi
seconds=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(gguf safetensors parquet tokenizer config modelconfig saeimport featurestore); fi
build

fixtures=Tests/SAEPipeTests/Fixtures
seed() {
    local target=$1 corpus=$2
    mkdir -p "$corpus"
    cp -n Fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    cp -n Tests/SAEPipeTests/Fixtures/fuzz-regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    case $target in
        parquet) cp -n "$fixtures"/parquet/nullable-zstd.parquet "$corpus"/ ;;
        config) for f in configs/*.yaml "$fixtures"/configs/*; do cp -n "$f" "$corpus/$(basename "$f")"; done ;;
        modelconfig) for d in tiny-neox tiny-llama; do cp -n "$fixtures/$d/config.json" "$corpus/$d.json"; done ;;
    esac
}

export SWIFT_BACKTRACE=enable=no
# Swift seeds its hashing per process; fixed hashing keeps a seeded run's coverage feedback repeatable.
export SWIFT_DETERMINISTIC_HASHING=1
export LSAN_OPTIONS="suppressions=$root/Fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
status=0
summary=""
for target in "${targets[@]}"; do
    corpus="Fuzz/.corpus/$target"
    findings="Fuzz/.findings/$target"
    seed "$target" "$corpus"
    mkdir -p "$findings"
    log="Fuzz/.findings/$target.log"
    set +e
    "$binary" "$target" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        ${FUZZ_MAX_RUNS:+-runs=$FUZZ_MAX_RUNS} ${FUZZ_SEED:+-seed=$FUZZ_SEED} -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    found=$(find "$findings" -type f | wc -l)
    line="$target: $runs executions in ${seconds}s, $found findings (exit $code)"
    summary+="$line"$'\n'
    echo "$line"
    if [[ $code -ne 0 || $found -ne 0 ]]; then
        status=1
        grep -E 'ERROR|Fatal error|SUMMARY|Test unit written' "$log" | head -5 || true
        echo "  full log: $log" >&2
    fi
done
printf '\nfuzz summary:\n%s' "$summary"
exit $status
