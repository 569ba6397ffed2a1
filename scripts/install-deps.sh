#!/usr/bin/env bash
# Installs the Debian packages saepipe builds against, if any is missing; with arguments, those
# packages instead (the test command adds the browser its browser test drives).
set -euo pipefail
packages=(libopenblas-dev libyaml-dev libpng-dev libfreetype-dev libzstd-dev libsnappy-dev zlib1g-dev pkg-config)
if [ "$#" -gt 0 ]; then packages=("$@"); fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
