#!/usr/bin/python3
"""Per-operator wall-clock time of one serenity_run build at 1 and 2 threads.

usage: bench/thread_scaling.py --zoo DIR --serenity-run PATH [--only a,b]
                               [--runs N] [--rounds K] [--top N] [--type T]

For each model DIR/NAME.srn, runs `serenity_run --profile --json` at 1 and
at 2 threads in turn, K rounds, and prints each operator type's summed time
per inference at both thread counts (the smallest of the K rounds per
operator) and their ratio, then the N operators that gain least from the
second thread (largest 2-thread time minus half the 1-thread time), or only
those of type T. A ratio near 1.0 for every type means the second thread did
no work: on a shared machine, the work pool (kernels/work_pool.h) then found
the CPUs contended, or the helper got no CPU; near 0.5 is full scaling. The
latency medians of each round are printed too.
"""
import argparse
import collections
import os
import sys

from bench_common import run_json, zoo_models


def profile(binary, model, threads, runs, rounds):
    best = {}
    latencies = []
    for _ in range(rounds):
        result = run_json([binary, "--model", model, "--threads", str(threads), "--runs",
                           str(runs), "--profile", "--json"])
        latencies.append(result["latency_ms"]["median"])
        for op in result["profile"]:
            key = (op["op"], op["name"], op["type"])
            best[key] = min(best.get(key, float("inf")), op["mean_ms"])
    return best, latencies


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--serenity-run", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--type", default="")
    args = parser.parse_args()
    names = zoo_models(args.zoo, args.only)
    if not names or args.runs < 1 or args.rounds < 1:
        sys.exit("thread_scaling: error: no models, or --runs/--rounds below 1")
    for name in names:
        model = os.path.join(args.zoo, name + ".srn")
        one, one_latency = profile(args.serenity_run, model, 1, args.runs, args.rounds)
        two, two_latency = profile(args.serenity_run, model, 2, args.runs, args.rounds)
        print(f"== {name}: ms per inference, 1 and 2 threads (smallest of {args.rounds} rounds "
              f"per operator); latency medians 1t {' '.join(f'{v:.2f}' for v in one_latency)}, "
              f"2t {' '.join(f'{v:.2f}' for v in two_latency)}")
        by_type = collections.defaultdict(lambda: [0.0, 0.0])
        for key, value in one.items():
            by_type[key[2]][0] += value
            by_type[key[2]][1] += two.get(key, float("nan"))
        total = [sum(v[0] for v in by_type.values()), sum(v[1] for v in by_type.values())]
        print(f"  {'total':20s} {total[0]:8.3f} {total[1]:8.3f}  ratio {total[1] / total[0]:.2f}")
        for op_type, (t1, t2) in sorted(by_type.items(), key=lambda kv: -kv[1][0]):
            print(f"  {op_type:20s} {t1:8.3f} {t2:8.3f}  ratio {t2 / t1:.2f}")
        keys = [k for k in one if not args.type or k[2] == args.type]
        keys.sort(key=lambda k: -(two.get(k, 0.0) - one[k] / 2))
        for key in keys[:args.top]:
            print(f"    {key[1][:48]:48s} {key[2]:14s} {one[key]:8.3f} {two.get(key, 0.0):8.3f}"
                  f"  ratio {two.get(key, 0.0) / one[key]:.2f}")


if __name__ == "__main__":
    main()
