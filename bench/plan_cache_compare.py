#!/usr/bin/python3
"""Plan cache hits of two or more plan_cache_bench builds, interleaved.

usage: bench/plan_cache_compare.py --zoo DIR --bench PATH[,PATH...] --cache-dir DIR
                                   [--only a,b] [--fresh N] [--hits N] [--rounds K]

Each round runs every build once, in turn, as
`plan_cache_bench --fresh N --hits N --cache-dir DIR MODELS` (issue 9's
measurement) on the same models and the same kept cache entries, so a
neighbour's load falls on all builds alike. The first build's first run fills
the cache directory when it is empty (its entries are then reused by all;
builds must agree on the entry format). Prints, per model and build, the
median over the rounds of the "fresh med" column (a hit in a fresh process,
what serenity_run sees), of "median hit" (in-process), of "fresh cpu" and of
the fresh hit's page faults, and each build's ratio of fresh med to the first
build's.
"""
import argparse
import json
import os
import subprocess
import sys

from bench_common import median, zoo_models

FIELDS = [("fresh_median_hit_ms", "fresh med"), ("median_hit_ms", "median hit"),
          ("fresh_median_hit_cpu_ms", "fresh cpu"), ("fresh_median_hit_faults", "faults")]


def run(bench, models, args):
    command = [bench, "--fresh", str(args.fresh), "--hits", str(args.hits),
               "--cache-dir", args.cache_dir] + models
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    rows = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["model"]] = row
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--bench", required=True, help="comma-separated plan_cache_bench builds")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--fresh", type=int, default=20)
    parser.add_argument("--hits", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    benches = args.bench.split(",")
    names = zoo_models(args.zoo, args.only)
    models = [os.path.join(args.zoo, n + ".srn") for n in names]
    results = {b: [] for b in benches}  # per build: one {model: row} per round
    for r in range(args.rounds):
        for bench in benches:
            results[bench].append(run(bench, models, args))
            print(f"round {r + 1}: {bench} done", file=sys.stderr)
    header = f"{'model':22s} {'build':40s}" + "".join(f"{label:>12s}" for _, label in FIELDS)
    print(header + f"{'ratio':>8s}")
    for name in names:
        first = None
        for bench in benches:
            values = [median([rnd[name][key] for rnd in results[bench]]) for key, _ in FIELDS]
            if first is None:
                first = values[0]
            ratio = values[0] / first if first > 0 else float("nan")
            print(f"{name:22s} {bench[-40:]:40s}" + "".join(f"{v:12.3f}" for v in values) +
                  f"{ratio:8.3f}")


if __name__ == "__main__":
    main()
