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
what serenity_run sees), the smallest "fresh min" of all rounds (the hit least
disturbed by other processes on a shared machine), the medians of "median
hit" (in-process), of "fresh cpu" and of the fresh hit's page faults, and each
build's ratios of fresh med and of fresh min to the first build's.
"""
import argparse
import json
import os
import subprocess
import sys

from bench_common import median, zoo_models

# (JSON key, column, how the rounds combine): the fastest fresh hit of all
# rounds is the least disturbed by a neighbour, the others are medians.
FIELDS = [("fresh_median_hit_ms", "fresh med", "median"), ("fresh_min_hit_ms", "fresh min", "min"),
          ("median_hit_ms", "median hit", "median"),
          ("fresh_median_hit_cpu_ms", "fresh cpu", "median"),
          ("fresh_median_hit_faults", "faults", "median")]


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
    header = f"{'model':22s} {'build':40s}" + "".join(f"{label:>12s}" for _, label, _ in FIELDS)
    print(header + f"{'med ratio':>10s}{'min ratio':>10s}")
    for name in names:
        first = None
        for bench in benches:
            values = []
            for key, _, how in FIELDS:
                per_round = [rnd[name][key] for rnd in results[bench]]
                values.append(min(per_round) if how == "min" else median(per_round))
            if first is None:
                first = values[:2]
            ratios = [v / f if f > 0 else float("nan") for v, f in zip(values[:2], first)]
            print(f"{name:22s} {bench[-40:]:40s}" + "".join(f"{v:12.3f}" for v in values) +
                  "".join(f"{r:10.3f}" for r in ratios))


if __name__ == "__main__":
    main()
