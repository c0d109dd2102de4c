"""Pieces the zoo benchmark scripts (latency_bench, cpu_time_compare,
op_time_compare) share: the models of a zoo directory, one JSON-printing run,
a median."""
import json
import os
import subprocess


def zoo_models(zoo, only="", need_onnx=False):
    """The NAME of every NAME.srn in `zoo` (with a NAME.onnx beside it when
    need_onnx), sorted, kept to the comma-separated `only` when given."""
    names = sorted(f[:-4] for f in os.listdir(zoo)
                   if f.endswith(".srn")
                   and (not need_onnx or os.path.exists(os.path.join(zoo, f[:-4] + ".onnx"))))
    if only:
        wanted = set(only.split(","))
        names = [n for n in names if n in wanted]
    return names


def run_json(command):
    """Runs `command` and parses the last line of its standard output as JSON;
    RuntimeError with its stderr when it exits non-zero."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
