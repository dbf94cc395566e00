#!/usr/bin/env bash
# System packages intentforge needs beyond PyPI: espeak-ng (offline text-to-speech), PortAudio
# (microphone for `intentforge voice --mic`), and Debian's Chromium (the voice web
# page test drives a real browser; no browser is ever downloaded). Idempotent: installs only what
# is missing, and does nothing at all when everything is there.
set -euo pipefail

packages=(espeak-ng libportaudio2 chromium)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "system packages already installed: ${packages[*]}"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${missing[*]}; install them with your package manager" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
