#!/usr/bin/python3
"""CPU time per inference of serenity_run builds and ONNX Runtime, interleaved.

usage: bench/cpu_time_compare.py --zoo DIR --serenity-run PATH[,PATH...]
                                 [--only a,b] [--runs N] [--rounds K] [--no-ort]

At 1 thread, for each model: every build (and `node bench/ort/ort_latency.js`
on DIR/NAME.onnx unless --no-ort) runs twice per round, with 1 and with N + 1
timed runs; the difference of the two processes' CPU time (user + system,
from the kernel's accounting of finished children) divided by N is the CPU
time of one inference, without loading, planning and warm-up. Unlike
wall-clock latency it does not count the time other processes held the CPU,
so on a shared machine it compares the work each engine does (not cache
effects of the neighbours). Prints each round's figure and the medians, and
each build's ratio to ONNX Runtime and to the first build. Works with any
serenity_run build (no new flags needed).
"""
import argparse
import os
import resource
import subprocess
import sys

from bench_common import median, zoo_models

HERE = os.path.dirname(os.path.abspath(__file__))


def child_cpu_seconds(command):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def per_run_ms(command, runs_flag, runs):
    one = child_cpu_seconds(command + [runs_flag, "1"])
    many = child_cpu_seconds(command + [runs_flag, str(runs + 1)])
    return (many - one) / runs * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--serenity-run", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-ort", action="store_true")
    args = parser.parse_args()
    binaries = args.serenity_run.split(",")
    names = zoo_models(args.zoo, args.only)
    if not names or args.runs < 1 or args.rounds < 1:
        sys.exit("cpu_time_compare: error: no models, or --runs/--rounds below 1")
    for name in names:
        srn = os.path.join(args.zoo, name + ".srn")
        onnx_path = os.path.join(args.zoo, name + ".onnx")
        with_ort = not args.no_ort and os.path.exists(onnx_path)
        figures = {b: [] for b in binaries}
        ort = []
        for _ in range(args.rounds):
            for b in binaries:
                figures[b].append(per_run_ms([b, "--model", srn, "--threads", "1", "--warmup", "2"],
                                             "--runs", args.runs))
            if with_ort:
                ort.append(per_run_ms(["node", os.path.join(HERE, "ort", "ort_latency.js"),
                                       onnx_path, "--threads", "1", "--warmup", "3"],
                                      "--runs", args.runs))
        first = median(figures[binaries[0]])
        print(f"== {name}: CPU ms per inference, 1 thread, {args.rounds} rounds")
        for b in binaries:
            m = median(figures[b])
            print(f"  {b:60s} {' '.join(f'{x:7.3f}' for x in figures[b])}  median {m:7.3f}"
                  + (f"  /ORT {m / median(ort):.2f}" if ort else "") + f"  /first {m / first:.3f}")
        if ort:
            print(f"  {'onnxruntime-node':60s} {' '.join(f'{x:7.3f}' for x in ort)}  median "
                  f"{median(ort):7.3f}")


if __name__ == "__main__":
    main()
