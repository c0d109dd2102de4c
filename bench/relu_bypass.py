#!/usr/bin/python3
"""An upper bound on what folding Relus into the convolutions reading them
could save in memory (issue 8): every Relu whose readers are all Conv2Ds (as
their input 0) is removed from the zoo's .onnx files, the convolutions reading
its input instead, as if each applied max(0, x) on read. The graphs are no
longer the same function, so only their memory figures mean anything.

  bench/relu_bypass.py --zoo build/zoo --tools build/release --out DIR [--only a,b]

Writes DIR/<model>.onnx and .srn, then prints memory_report's table for them;
compare its "all MiB" column with memory_report on the zoo itself.
"""
import argparse
import collections
import os
import subprocess
import sys

import onnx

from bench_common import zoo_models


def bypass(src, dst):
    model = onnx.load(src)
    graph = model.graph
    readers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    outputs = {o.name for o in graph.output}
    kept, removed = [], 0
    for node in graph.node:
        out = node.output[0] if node.output else None
        if (node.op_type == "Relu" and out not in outputs and readers[out] and
                all(r.op_type == "Conv" and r.input[0] == out for r in readers[out])):
            for r in readers[out]:
                r.input[0] = node.input[0]
            removed += 1
            continue
        kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)
    onnx.save(model, dst)
    return removed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--tools", required=True, help="a build dir (tools/, bench/)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    srn = []
    for name in zoo_models(args.zoo, args.only, need_onnx=True):
        onnx_path = os.path.join(args.out, name + ".onnx")
        removed = bypass(os.path.join(args.zoo, name + ".onnx"), onnx_path)
        print(f"{name}: {removed} Relus bypassed", file=sys.stderr)
        srn.append(os.path.join(args.out, name + ".srn"))
        subprocess.run([os.path.join(args.tools, "tools", "onnx2srn"), onnx_path, "-o", srn[-1],
                        "--name", name], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(args.tools, "bench", "memory_report")] + srn, check=True)


if __name__ == "__main__":
    main()
