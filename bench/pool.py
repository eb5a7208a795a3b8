#!/usr/bin/env python3
"""The classic experiment: download a list of URLs into a directory with urllib.request,
either one after another (--mode seq) or spread over a ProcessPoolExecutor (--mode pool).

Each file is named after the last segment of its URL's path. Exit status 0 when every URL
was saved, 1 when any failed (each failure is named on stderr), 2 on a usage error.

Usage:
    python3 bench/pool.py -i urls.txt -o out [--mode seq|pool] [--workers N] [--chunksize N]
"""

import argparse
import os
import shutil
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ProcessPoolExecutor


def file_name(url):
    """The last segment of the URL's path, percent-decoded; never empty, never a path."""
    segment = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    segment = segment.replace("/", "_").replace("\\", "_")
    return segment if segment not in ("", ".", "..") else "index"


def fetch(job):
    """Downloads one URL to OUT/NAME via OUT/.NAME.part; returns (url, error or None)."""
    url, out = job
    name = file_name(url)
    final = os.path.join(out, name)
    part = os.path.join(out, "." + name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as f:
            shutil.copyfileobj(response, f, 1 << 16)
        os.replace(part, final)
        return url, None
    except Exception as error:  # report every failure, keep going
        try:
            os.remove(part)
        except OSError:
            pass
        return url, f"{type(error).__name__}: {error}"


def read_urls(path):
    source = sys.stdin if path == "-" else open(path, encoding="utf-8")
    with source:
        return [s for s in (line.strip() for line in source) if s and not s.startswith("#")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-i", "--input", required=True, help='URL list, one per line ("-" = stdin)')
    parser.add_argument("-o", "--out", required=True, help="output directory (created if missing)")
    parser.add_argument("--mode", choices=("seq", "pool"), default="pool")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes in the pool (default: the number of cores)")
    parser.add_argument("--chunksize", type=int, default=16,
                        help="URLs handed to a process at a time (default 16)")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.chunksize < 1:
        parser.error("--workers and --chunksize must be positive")

    urls = read_urls(args.input)
    os.makedirs(args.out, exist_ok=True)
    jobs = [(url, args.out) for url in urls]

    if args.mode == "seq":
        results = map(fetch, jobs)
        failed = report(results)
    else:
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            failed = report(pool.map(fetch, jobs, chunksize=args.chunksize))

    print(f"pool.py: {len(urls) - failed} saved, {failed} failed ({args.mode})", file=sys.stderr)
    return 1 if failed else 0


def report(results):
    failed = 0
    for url, error in results:
        if error is not None:
            failed += 1
            print(f"pool.py: {url}: {error}", file=sys.stderr)
    return failed


if __name__ == "__main__":
    sys.exit(main())
