#!/usr/bin/env bash
# The linear-scaling check of the classic experiment, carried to a large scale: downpour on
# 10,000 and then 1,000,000 distinct URLs (every one served by nginx from the same tiny PNG),
# files/s and peak RSS for each. Not a test: run it by hand (about 3 minutes; needs ~5 GB of
# free memory when TMP is a tmpfs).
#
#   bash bench/scale.sh [COUNT ...]        # default: 10000 1000000
#   TMP=/dev/shm bash bench/scale.sh       # output in memory
#   EXTRA="" bash bench/scale.sh           # without the V8 flag of the install line
#
# downpour runs as installed, with --v8-flags=--max-semi-space-size=1,--heap-growing-percent=100 (EXTRA replaces it).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(10000 1000000)
work=$(mktemp -d "${TMP:-/tmp}/downpour-scale-XXXXXX")
port=18091
nginx=""
trap 'kill "$nginx" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

chmod 755 "$work"
mkdir -p "$work/www"
deno eval "import { syntheticPng } from '$repo/testing/png.ts';
await Deno.writeFile('$work/www/tiny.png', await syntheticPng(0, { minBytes: 200, maxBytes: 300 }));"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  server {
    listen 127.0.0.1:$port;
    root $work/www;
    location /img/ { try_files /tiny.png =404; }
  }
}
EOF
nginx -c "$work/nginx.conf" &
nginx=$!
sleep 0.5

printf '| URLs | wall s | files/s | peak RSS MB |\n| --: | --: | --: | --: |\n'
for n in "${counts[@]}"; do
  seq 0 $((n - 1)) | sed "s#^#http://127.0.0.1:$port/img/#; s#\$#.png#" >"$work/list.txt"
  rm -rf "$work/out"
  # shellcheck disable=SC2086
  if ! /usr/bin/time -f "%e %M" -o "$work/time.txt" \
    deno run -A ${EXTRA-"--v8-flags=--max-semi-space-size=1,--heap-growing-percent=100"} "$repo/cli.ts" -i "$work/list.txt" -o "$work/out" -q --per-host 32 \
    --layout shard 2>"$work/stderr.txt"; then
    tail -5 "$work/stderr.txt" >&2
    exit 1
  fi
  read -r wall rss <"$work/time.txt"
  saved=$(find "$work/out" -name '*.png' | wc -l)
  [ "$saved" -eq "$n" ] || { echo "only $saved of $n saved" >&2; cat "$work/stderr.txt" >&2; exit 1; }
  size=$(stat -c %s "$work/www/tiny.png")
  wrong=$(find "$work/out" -name '*.png' ! -size "${size}c" | wc -l)
  [ "$wrong" -eq 0 ] || { echo "$wrong files have the wrong size" >&2; exit 1; }
  # Every file's bytes: the same digest n times over.
  digests=$(find "$work/out" -name '*.png' -print0 | xargs -0 sha256sum | awk '{ print $1 }' | sort -u)
  [ "$digests" = "$(sha256sum "$work/www/tiny.png" | awk '{ print $1 }')" ] ||
    { echo "some files differ from the source" >&2; exit 1; }
  printf '| %s | %s | %s | %s |\n' "$n" "$wall" "$(awk -v n="$n" -v w="$wall" 'BEGIN { printf "%d", n / w }')" \
    "$(awk -v k="$rss" 'BEGIN { printf "%d", k / 1024 }')"
done
