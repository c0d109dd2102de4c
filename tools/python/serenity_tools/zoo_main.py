"""serenity_zoo --out DIR [--only NAME] [--list]: writes DIR/NAME.onnx and
DIR/NAME.srn for the networks of DESIGN.md §4 (seeded, deterministic)."""
import argparse
import os
import sys
import time


def main(argv=None):
  from .zoo import MODELS
  parser = argparse.ArgumentParser(
      prog="serenity_zoo",
      description="Generate the Serenity network zoo as ONNX files and their "
      ".srn conversions.")
  parser.add_argument("--out", help="output directory")
  parser.add_argument("--only", action="append", metavar="NAME",
                      help="generate only this model (repeatable)")
  parser.add_argument("--list", action="store_true",
                      help="list the model names and exit")
  parser.add_argument("--check", action="store_true",
                      help="also compare each .srn against the ONNX graph "
                      "(numpy evaluators; slow for the 224x224 models)")
  args = parser.parse_args(argv)
  if args.list:
    for name in MODELS:
      print(name)
    return 0
  if not args.out:
    print("serenity_zoo: error: --out DIR is required (or --list)",
          file=sys.stderr)
    return 1
  names = args.only or list(MODELS)
  unknown = [n for n in names if n not in MODELS]
  if unknown:
    print("serenity_zoo: error: unknown model(s) %s; --list shows the names"
          % ", ".join(unknown), file=sys.stderr)
    return 1
  try:
    os.makedirs(args.out, exist_ok=True)
  except OSError as e:
    print("serenity_zoo: error: cannot create %s: %s" % (args.out,
                                                         e.strerror),
          file=sys.stderr)
    return 1
  import onnx
  from . import check, onnx_import, srn
  status = 0
  for name in names:
    start = time.time()
    model = MODELS[name]()
    onnx_path = os.path.join(args.out, name + ".onnx")
    srn_path = os.path.join(args.out, name + ".srn")
    onnx.save(model, onnx_path)
    # The .srn is the conversion of the file just written, so Serenity and
    # other runtimes see the same model.
    try:
      converted = onnx_import.convert(onnx_import.load_onnx(onnx_path), name)
    except onnx_import.ConversionError as e:
      print("serenity_zoo: error: %s: %s" % (name, e), file=sys.stderr)
      return 1
    converted.description = (model.doc_string.strip().splitlines() or [""])[0]
    srn.write(converted, srn_path)
    line = "%-20s %5d ops %10d params  %.1fs" % (
        name, len(converted.operators), converted.parameter_count(),
        time.time() - start)
    if args.check:
      worst, scale, _ = check.compare(model, srn.read(srn_path))
      rel = worst / max(scale, 1e-30)
      line += "  check: max diff %.2g (%.2g relative)" % (worst, rel)
      if rel > 1e-4:
        status = 1
    print(line, flush=True)
  return status
