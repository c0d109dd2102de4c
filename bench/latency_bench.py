#!/usr/bin/python3
"""Latency of Serenity beside ONNX Runtime on the very same zoo files.

usage: bench/latency_bench.py --zoo DIR --serenity-run PATH [--threads 1,2]
                              [--runs N] [--warmup N] [--rounds K] [--only a,b]
                              [--json FILE] [--kernels auto|xnnpack|direct]
                              [--compare-xnnpack] [--baseline PATH]

For every DIR/NAME.srn with a DIR/NAME.onnx next to it, runs
`serenity_run --json` and `node bench/ort/ort_latency.js` at each thread
count, one after the other in the same run, and prints a table of medians and
their ratio (Serenity / ONNX Runtime: below 1 means Serenity is faster), plus
Serenity's arena against its planned peak. --kernels is passed to serenity_run
(auto: Serenity's own convolution kernels where they are faster, XNNPACK for
the rest; xnnpack: XNNPACK only; direct: auto without Winograd). --compare-xnnpack also runs
`serenity_run --kernels xnnpack` in the same run and adds its median and ratio. --baseline PATH
runs a second serenity_run binary (say, another branch's build) in the same rounds, next to
the first (the two swap places every round), and adds its median and ratio: a before/after comparison under the same load. Timing figures wander on a shared
machine: compare the ratios, not the absolute times. To keep a busy or quiet
stretch of the machine from landing on one side only, the engines take turns:
--rounds K (default 3) alternates Serenity and ONNX Runtime K times, each
process timing --runs runs; a median is the median of its K round medians,
and the `best` columns compare the fastest single runs.
"""
import argparse
import json
import math
import os
import subprocess
import sys

from bench_common import median, run_json, zoo_models

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--serenity-run", required=True)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--kernels", default="auto", choices=["auto", "xnnpack", "direct"])
    parser.add_argument("--compare-xnnpack", action="store_true")
    parser.add_argument("--baseline", default="")
    args = parser.parse_args()

    setup = subprocess.run([os.path.join(HERE, "ort", "setup.sh")])
    if setup.returncode != 0:
        sys.exit("latency_bench: error: cannot install onnxruntime-node")
    names = zoo_models(args.zoo, args.only, need_onnx=True)
    if not names:
        sys.exit(f"latency_bench: error: no NAME.srn + NAME.onnx pairs in {args.zoo}")
    if args.rounds < 1 or args.runs < 1:
        sys.exit("latency_bench: error: --rounds and --runs must be at least 1")

    rows = []
    for name in names:
        for threads in [int(t) for t in args.threads.split(",")]:
            srn = os.path.join(args.zoo, name + ".srn")
            onnx_path = os.path.join(args.zoo, name + ".onnx")
            command = [args.serenity_run, "--model", srn, "--threads", str(threads),
                       "--runs", str(args.runs), "--warmup", str(args.warmup), "--json"]
            ours_rounds, xnn_rounds, base_rounds, peer_rounds = [], [], [], []
            for round_index in range(args.rounds):
                # With a baseline, the two builds swap places every round.
                if args.baseline and round_index % 2 == 1:
                    base_rounds.append(run_json([args.baseline] + command[1:] +
                                                ["--kernels", args.kernels]))
                ours_rounds.append(run_json(command + ["--kernels", args.kernels]))
                if args.baseline and round_index % 2 == 0:
                    base_rounds.append(run_json([args.baseline] + command[1:] +
                                                ["--kernels", args.kernels]))
                if args.compare_xnnpack:
                    xnn_rounds.append(run_json(command + ["--kernels", "xnnpack"]))
                peer_rounds.append(run_json(
                    ["node", os.path.join(HERE, "ort", "ort_latency.js"), onnx_path,
                     "--threads", str(threads), "--runs", str(args.runs),
                     "--warmup", str(args.warmup)]))
            ours = ours_rounds[-1]
            ours_median = median([r["latency_ms"]["median"] for r in ours_rounds])
            peer_median = median([r["latency_ms"]["median"] for r in peer_rounds])
            ours_best = min(r["latency_ms"]["min"] for r in ours_rounds)
            peer_best = min(r["latency_ms"]["min"] for r in peer_rounds)
            row = {
                "model": name,
                "threads": threads,
                "rounds": args.rounds,
                "serenity_median_ms": ours_median,
                "ort_median_ms": peer_median,
                "ratio": ours_median / peer_median,
                "serenity_best_ms": ours_best,
                "ort_best_ms": peer_best,
                "best_ratio": ours_best / peer_best,
                "arena_bytes": ours["memory"]["arena_bytes"],
                "peak_bytes": ours["memory"]["peak_bytes"],
                "baseline_arena_bytes": ours["memory"]["baseline_arena_bytes"],
            }
            if xnn_rounds:
                row["xnnpack_median_ms"] = median([r["latency_ms"]["median"] for r in xnn_rounds])
                row["xnnpack_ratio"] = row["xnnpack_median_ms"] / peer_median
            if base_rounds:
                row["baseline_median_ms"] = median([r["latency_ms"]["median"] for r in base_rounds])
                row["baseline_ratio"] = row["baseline_median_ms"] / peer_median
            rows.append(row)
            print(f"{name:22s} t={threads}  serenity {row['serenity_median_ms']:9.3f} ms  "
                  f"ort {row['ort_median_ms']:9.3f} ms  ratio {row['ratio']:.2f}"
                  + (f"  xnnpack-only {row['xnnpack_median_ms']:9.3f} ms" if xnn_rounds else "")
                  + (f"  baseline {row['baseline_median_ms']:9.3f} ms" if base_rounds else ""),
                  file=sys.stderr)

    compare = args.compare_xnnpack
    baseline = bool(args.baseline)
    print(f"{'model':22s} {'thr':>3s} {'serenity ms':>12s} {'ORT ms':>10s} {'ser/ORT':>8s} "
          f"{'best ratio':>10s} "
          + (f"{'xnn-only ms':>12s} {'xnn/ORT':>8s} " if compare else "")
          + (f"{'baseline ms':>12s} {'base/ORT':>8s} " if baseline else "")
          + f"{'arena KiB':>10s} {'peak KiB':>9s} {'arena=peak':>10s}")
    for r in rows:
        print(f"{r['model']:22s} {r['threads']:3d} {r['serenity_median_ms']:12.3f} "
              f"{r['ort_median_ms']:10.3f} {r['ratio']:8.2f} {r['best_ratio']:10.2f} "
              + (f"{r['xnnpack_median_ms']:12.3f} {r['xnnpack_ratio']:8.2f} " if compare else "")
              + (f"{r['baseline_median_ms']:12.3f} {r['baseline_ratio']:8.2f} " if baseline else "")
              + f"{r['arena_bytes'] / 1024:10.1f} "
              f"{r['peak_bytes'] / 1024:9.1f} {'yes' if r['arena_bytes'] <= r['peak_bytes'] + 64 else 'no':>10s}")
    for threads in sorted({r["threads"] for r in rows}):
        ratios = [r["ratio"] for r in rows if r["threads"] == threads]
        geomean = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        wins = sum(1 for x in ratios if x <= 1.0)
        best_wins = sum(1 for r in rows if r["threads"] == threads and r["best_ratio"] <= 1.0)
        print(f"threads={threads}: geometric mean serenity/ORT = {geomean:.2f}; "
              f"serenity at or below ORT on {wins}/{len(ratios)} models (medians), "
              f"{best_wins}/{len(ratios)} (best runs)"
              + (f"; baseline: geometric mean {math.exp(sum(math.log(r['baseline_ratio']) for r in rows if r['threads'] == threads) / len(ratios)):.2f}, "
                 f"at or below ORT on {sum(1 for r in rows if r['threads'] == threads and r['baseline_ratio'] <= 1.0)}/{len(ratios)}"
                 if baseline else ""))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
