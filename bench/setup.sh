#!/usr/bin/env bash
# Installs the peers that bench/compare.ts measures downpour against, from Debian's packages:
# nginx (the server), wget2, curl and aria2 (the clients), GNU time (wall, CPU and peak RSS),
# and hyperfine and wrk (for ad-hoc checks). Idempotent: installs only what is missing, and runs
# `apt-get update` only when something is. Python 3 (for bench/pool.py) is expected to be there.
#
# Usage: bash bench/setup.sh        (as root, or with sudo available)
set -euo pipefail

# Debian package name and a file it installs, to tell whether it is present.
packages=(
  "nginx:/usr/sbin/nginx"
  "wget2:/usr/bin/wget2"
  "curl:/usr/bin/curl"
  "aria2:/usr/bin/aria2c"
  "time:/usr/bin/time"
  "hyperfine:/usr/bin/hyperfine"
  "wrk:/usr/bin/wrk"
)

missing=()
for entry in "${packages[@]}"; do
  name="${entry%%:*}"
  file="${entry#*:}"
  if [[ ! -x "$file" ]]; then missing+=("$name"); fi
done

if ((${#missing[@]} == 0)); then
  echo "bench/setup.sh: everything is installed"
else
  sudo=()
  if ((EUID != 0)); then sudo=(sudo); fi
  echo "bench/setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v python3 >/dev/null 2>&1; then
  echo "bench/setup.sh: python3 is missing (needed by bench/pool.py)" >&2
  exit 1
fi
if ! command -v deno >/dev/null 2>&1; then
  echo "bench/setup.sh: deno is missing (npm install -g deno@2.9.6)" >&2
  exit 1
fi
