#!/usr/bin/python3
"""Time per inference of each operator class, Serenity against ONNX Runtime.

usage: bench/ort_op_compare.py --zoo DIR --serenity-run PATH[,PATH...]
                               [--only a,b] [--threads 1,2] [--runs N] [--rounds K]
                               [--top N]

For each model DIR/NAME.srn with DIR/NAME.onnx beside it, and each thread
count, runs `serenity_run --profile --json` (every build given) and
`node bench/ort/ort_profile.js` (ONNX Runtime's own per-node profiler) in turn,
K rounds, and sums each engine's per-operator times by class: Conv 1x1, Conv
depthwise, Conv dense KxK (other kernel sizes; grouped non-depthwise
convolutions count as dense), Add, Relu/Clip, pool, Concat, Slice, FC,
layout (ORT's NCHWc reorders, Reshape, Flatten) and what else appears. A
Serenity operator gets its class from the ONNX node of the same name (the zoo
names both alike). Each figure is the smallest of the K rounds (wall-clock ms,
both engines timed the same way per operator); the last columns give each
build's ratio to ORT. ORT fuses a Relu or Clip and sometimes a residual Add
into the convolution before it, so its Conv classes hold work that Serenity
books as Relu/Add: compare the sum of those classes too, and the total. At
2 threads the rows show which classes scale and which do not.

`--top N` also lists the N convolutions and fully connected layers where the
first build loses most time against ORT, each paired with ORT's node of the
same weight shape and rank among equal shapes (ORT renames fused nodes).
"""
import argparse
import collections
import json
import os
import subprocess
import sys

from bench_common import run_json, zoo_models

HERE = os.path.dirname(os.path.abspath(__file__))


def onnx_conv_classes(onnx_path):
    """(node name -> class for every node of the ONNX model (Conv by its weight
    shape), node name -> weight shape for every Conv and Gemm)."""
    import onnx  # Debian's python3-onnx; imported here so --help works without it
    model = onnx.load(onnx_path)
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    classes = {}
    weights = {}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm") and node.input[1] in dims:
            weights[node.name] = tuple(dims[node.input[1]])
        if node.op_type == "Conv":
            weight = dims.get(node.input[1])
            if weight is None:
                sys.exit(f"ort_op_compare: error: {onnx_path}: Conv {node.name} has no constant weight")
            group = 1
            for attribute in node.attribute:
                if attribute.name == "group":
                    group = attribute.i
            classes[node.name] = conv_class(weight, group)
        else:
            classes[node.name] = TYPE_CLASSES.get(node.op_type, node.op_type)
    return classes, weights


def weight_keys(names, weight_of):
    """Name -> (weight shape, how many earlier names had that shape): the key
    that pairs the k-th convolution of a shape in one engine with the k-th of
    the same shape in the other (ORT renames the nodes it fuses)."""
    seen = collections.Counter()
    keys = {}
    for name in names:
        weight = weight_of(name)
        if weight is not None:
            keys[name] = (weight, seen[weight])
            seen[weight] += 1
    return keys


def conv_class(weight, group):
    """weight: [out, in / group, kh, kw]."""
    out_channels, group_in, kh, kw = weight
    if group > 1 and group_in == 1 and group == out_channels:
        return "Conv depthwise"
    if kh == 1 and kw == 1:
        return "Conv 1x1"
    return f"Conv dense {kh}x{kw}"


TYPE_CLASSES = {
    # ONNX / ORT types
    "Relu": "Relu/Clip", "Clip": "Relu/Clip", "Add": "Add", "Sum": "Add",
    "MaxPool": "pool", "AveragePool": "pool", "GlobalAveragePool": "pool",
    "Concat": "Concat", "Slice": "Slice", "Gemm": "FC", "MatMul": "FC",
    "ReorderInput": "layout", "ReorderOutput": "layout", "Reshape": "layout", "Flatten": "layout",
    # Serenity types
    "Clamp": "Relu/Clip", "MaxPool2D": "pool", "AveragePool2D": "pool",
    "FullyConnected": "FC",
}


def ort_node_class(node):
    if node["op_type"] in ("Conv", "FusedConv", "NchwcConv"):
        shapes = node["input_shapes"]
        weight = shapes[1]
        in_channels = shapes[0][1]
        group = in_channels // weight[1] if weight[1] else 1
        return conv_class(weight, group)
    return TYPE_CLASSES.get(node["op_type"], node["op_type"])


def serenity_profile(binary, model, threads, runs):
    return run_json([binary, "--model", model, "--threads", str(threads), "--runs", str(runs),
                     "--profile", "--json"])


def ort_profile(onnx_path, threads, runs):
    return run_json(["node", os.path.join(HERE, "ort", "ort_profile.js"), onnx_path,
                     "--threads", str(threads), "--runs", str(runs)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", required=True)
    parser.add_argument("--serenity-run", required=True)
    parser.add_argument("--only", default="")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    binaries = args.serenity_run.split(",")
    threads = [int(t) for t in args.threads.split(",")]
    names = zoo_models(args.zoo, args.only, need_onnx=True)
    if not names or args.runs < 1 or args.rounds < 1 or min(threads) < 1:
        sys.exit("ort_op_compare: error: no models with .onnx, or --runs/--rounds/--threads below 1")
    for name in names:
        srn = os.path.join(args.zoo, name + ".srn")
        onnx_path = os.path.join(args.zoo, name + ".onnx")
        classes, weights = onnx_conv_classes(onnx_path)
        for thread_count in threads:
            # engine index -> class -> per-round sums; engine len(binaries) is ORT
            sums = [collections.defaultdict(list) for _ in range(len(binaries) + 1)]
            # weight key -> per-round times, of the first build and of ORT
            by_op = [collections.defaultdict(list) for _ in range(2)]
            labels = {}
            for _ in range(args.rounds):
                for i, binary in enumerate(binaries):
                    result = serenity_profile(binary, srn, thread_count, args.runs)
                    round_sums = collections.defaultdict(float)
                    keys = weight_keys([op["name"] for op in result["profile"]], weights.get)
                    for op in result["profile"]:
                        cls = classes.get(op["name"]) or TYPE_CLASSES.get(op["type"], op["type"])
                        round_sums[cls] += op["mean_ms"]
                        if i == 0 and op["name"] in keys:
                            by_op[0][keys[op["name"]]].append(op["mean_ms"])
                            labels[keys[op["name"]]] = (op["name"], cls)
                    round_sums["total"] = sum(op["mean_ms"] for op in result["profile"])
                    for key, value in round_sums.items():
                        sums[i][key].append(value)
                ort = ort_profile(onnx_path, thread_count, args.runs)
                round_sums = collections.defaultdict(float)
                shapes = {node["name"]: tuple(node["input_shapes"][1]) for node in ort["nodes"]
                          if node["op_type"] in ("Conv", "FusedConv", "NchwcConv", "Gemm")}
                keys = weight_keys([node["name"] for node in ort["nodes"]], shapes.get)
                for node in ort["nodes"]:
                    round_sums[ort_node_class(node)] += node["mean_ms"]
                    if node["name"] in keys:
                        by_op[1][keys[node["name"]]].append(node["mean_ms"])
                round_sums["total"] = sum(node["mean_ms"] for node in ort["nodes"])
                for key, value in round_sums.items():
                    sums[-1][key].append(value)
            print(f"== {name}, {thread_count} thread(s): ms per inference by operator class "
                  f"(smallest of {args.rounds} rounds of {args.runs} runs)")
            header = "".join(f" {'serenity' + (str(i + 1) if len(binaries) > 1 else ''):>10s}"
                             for i in range(len(binaries)))
            print(f"  {'class':20s}{header} {'ort':>10s}" +
                  "".join(f"  {'ratio' + (str(i + 1) if len(binaries) > 1 else ''):>7s}"
                          for i in range(len(binaries))))
            keys = set()
            for engine in sums:
                keys.update(engine)
            keys.discard("total")
            ordered = sorted(keys, key=lambda k: -max(min(e[k]) if e.get(k) else 0 for e in sums))
            for key in ordered + ["total"]:
                values = [min(e[key]) if e.get(key) else 0.0 for e in sums]
                ort_value = values[-1]
                ratios = "".join(f"  {v / ort_value:7.2f}" if ort_value > 0 else f"  {'-':>7s}"
                                 for v in values[:-1])
                print(f"  {key:20s}" + "".join(f" {v:10.3f}" for v in values) + ratios)
            if args.top:
                losses = []
                for key, times in by_op[0].items():
                    ort_times = by_op[1].get(key)
                    if ort_times:
                        losses.append((min(times) - min(ort_times), key, min(times), min(ort_times)))
                losses.sort(reverse=True)
                print(f"  convolutions and FCs where serenity loses most ({len(losses)} of "
                      f"{len(by_op[0])} paired by weight shape): serenity ms, ort ms, difference")
                for loss, key, mine, theirs in losses[:args.top]:
                    op_name, cls = labels[key]
                    print(f"    {op_name[:40]:40s} {cls:16s} {'x'.join(map(str, key[0])):16s} "
                          f"{mine:8.3f} {theirs:8.3f}  {loss:+.3f}")


if __name__ == "__main__":
    main()
