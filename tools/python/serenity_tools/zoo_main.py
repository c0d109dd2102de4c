"""serenity_zoo --out DIR [--only NAME] [--list]: writes DIR/NAME.onnx and
DIR/NAME.srn for the networks of DESIGN.md §4 (seeded, deterministic)."""
import argparse
import os
import sys
import time


def main(argv=None):
  try:
    from .zoo import MODELS
  except ImportError as e:
    print("serenity_zoo: error: %s (serenity_zoo runs on Debian's "
          "/usr/bin/python3 with python3-onnx, python3-numpy and "
          "python3-flatbuffers; scripts/install-deps.sh installs them)" % e,
          file=sys.stderr)
    return 1
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
  parser.add_argument("--table", metavar="FILE.md",
                      help="after generating, write the zoo table (computed "
                      "from the .srn files) into FILE.md between the markers "
                      "<!-- zoo-table:begin --> and <!-- zoo-table:end -->, "
                      "or to stdout with '-'")
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
  from . import zoo_stats
  from .zoo import PUBLISHED
  status = 0
  rows = []
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
    # The first paragraph of the model definition's docstring, on one line.
    converted.description = " ".join(
        model.doc_string.strip().split("\n\n")[0].split())
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
    rows.append((name, zoo_stats.stats(converted)))
  if args.table:
    table = zoo_stats.markdown(rows, PUBLISHED)
    if args.table == "-":
      sys.stdout.write(table)
    else:
      begin, end = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"
      try:
        with open(args.table) as f:
          text = f.read()
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
      except (OSError, ValueError):
        print("serenity_zoo: error: %s must exist and hold the markers %s and "
              "%s" % (args.table, begin, end), file=sys.stderr)
        return 1
      with open(args.table, "w") as f:
        f.write(head + begin + "\n" + table + end + tail)
  return status
