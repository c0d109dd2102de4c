#!/usr/bin/python3
"""Per-operator CPU time of two or more serenity_run builds, interleaved.

usage: bench/op_time_compare.py --zoo DIR --serenity-run PATH[,PATH...]
                                [--only a,b] [--runs N] [--rounds K] [--top N]

For each model DIR/NAME.srn, runs every build K times in turn (build 1, build 2,
..., build 1, ...) with `--threads 1 --profile-cpu --json`, which times each
operator by the calling thread's CPU time: on a shared machine that leaves out
the time other processes held the CPU, so the figures of one operator move by
a few percent between runs where wall-clock latencies move by tens. Prints,
per model, the total and each operator type's time, then the slowest
operators, each as the smallest of the K rounds' means, with the last build's
ratio to the first. Builds without --profile-cpu cannot take part.
"""
import argparse
import collections
import os
import sys

from bench_common import run_json, zoo_models


def profile(binary, model, runs):
    command = [binary, "--model", model, "--threads", "1", "--runs", str(runs), "--profile-cpu",
               "--json"]
    return run_json(command)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--serenity-run", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    binaries = args.serenity_run.split(",")
    names = zoo_models(args.zoo, args.only)
    if not names:
        sys.exit(f"op_time_compare: error: no models in {args.zoo}")
    for name in names:
        model = os.path.join(args.zoo, name + ".srn")
        totals = [[] for _ in binaries]
        by_type = [collections.defaultdict(list) for _ in binaries]
        by_op = [collections.defaultdict(list) for _ in binaries]
        for _ in range(args.rounds):
            for i, binary in enumerate(binaries):
                result = profile(binary, model, args.runs)
                types = collections.defaultdict(float)
                for op in result["profile"]:
                    types[op["type"]] += op["mean_ms"]
                    by_op[i][(op["name"], op["type"])].append(op["mean_ms"])
                for key, value in types.items():
                    by_type[i][key].append(value)
                totals[i].append(sum(types.values()))
        first, last = 0, len(binaries) - 1
        print(f"== {name}: CPU ms per run, 1 thread (smallest of {args.rounds} rounds)")
        print("  total" + "".join(f" {min(t):9.3f}" for t in totals) +
              f"   ratio {min(totals[last]) / min(totals[first]):.3f}")
        for key in sorted(by_type[first], key=lambda k: -min(by_type[first][k])):
            values = [min(t.get(key, [float("nan")])) for t in by_type]
            print(f"  {key:20s}" + "".join(f" {v:9.3f}" for v in values) +
                  f"   ratio {values[last] / values[first]:.3f}")
        for key in sorted(by_op[first], key=lambda k: -min(by_op[first][k]))[:args.top]:
            values = [min(t.get(key, [float("nan")])) for t in by_op]
            print(f"    {key[0][:40]:40s} {key[1]:14s}" + "".join(f" {v:8.3f}" for v in values) +
                  f"   ratio {values[last] / values[first]:.3f}")


if __name__ == "__main__":
    main()
