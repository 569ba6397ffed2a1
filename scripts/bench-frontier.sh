#!/usr/bin/env bash
# saepipe's SAE recipes beside the anchors' trainers (SAELens, sparsify, dictionary_learning) on one
# activation set, one after another on the same machine, with the same training and held-out rows:
#   scripts/bench-frontier.sh ACTS OUTDIR
# Environment: SAEPIPE (default .build/release/saepipe), PYTHON (a Python with the anchors installed, see
# scripts/bench-anchors.py), OURS_ARGS and ANCHOR_ARGS (extra options: levels, learning rates, tokens).
# Writes OUTDIR/saepipe.json, anchors.json, split.json, frontier.png and comparison.txt; rerunning
# resumes the anchors' runs and retrains saepipe's only when saepipe.json is missing.
set -euo pipefail
acts=${1:?usage: bench-frontier.sh ACTS OUTDIR}
out=${2:?usage: bench-frontier.sh ACTS OUTDIR}
saepipe=${SAEPIPE:-.build/release/saepipe}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ ! -f "$out/saepipe.json" ]; then
  # shellcheck disable=SC2086
  "$saepipe" bench quality --acts "$acts" --split-out "$out/split.json" --json "$out/saepipe.json" --png "$out/saepipe.png" ${OURS_ARGS:-}
else
  "$saepipe" bench quality --acts "$acts" --runs "$out/saepipe.json" --split-out "$out/split.json" --png "$out/saepipe.png" >/dev/null
fi
# shellcheck disable=SC2086
"$python" "$here/bench-anchors.py" --acts "$acts" --split "$out/split.json" --json "$out/anchors.json" ${ANCHOR_ARGS:-}
"$saepipe" bench quality --acts "$acts" --runs "$out/saepipe.json" --compare "$out/anchors.json" --png "$out/frontier.png" \
  | tee "$out/comparison.txt"
