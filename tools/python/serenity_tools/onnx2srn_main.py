"""onnx2srn IN.onnx -o OUT.srn [--check]: converts an ONNX model to .srn."""
import argparse
import os
import sys


def main(argv=None):
  parser = argparse.ArgumentParser(
      prog="onnx2srn",
      description="Convert an ONNX model (opsets 11-17) to Serenity's .srn "
      "format. Activations become NHWC inside; graph inputs and outputs keep "
      "their ONNX names and NCHW shapes at the boundary (metadata "
      "serenity.io_layout=nchw).")
  parser.add_argument("input", help="the .onnx file")
  parser.add_argument("-o", "--output", required=True, help="the .srn file")
  parser.add_argument("--name", help="model name (default: the file name)")
  parser.add_argument(
      "--check", action="store_true",
      help="run the converted graph and an independent evaluation of the "
      "ONNX graph on one random input and report the largest difference")
  parser.add_argument("--tolerance", type=float, default=1e-4,
                      help="--check fails above this difference relative to "
                      "the largest output magnitude (default 1e-4)")
  args = parser.parse_args(argv)
  try:
    from . import check, onnx_import, srn
  except ImportError as e:
    print("onnx2srn: error: %s (onnx2srn runs on Debian's /usr/bin/python3 "
          "with python3-onnx, python3-numpy and python3-flatbuffers; "
          "scripts/install-deps.sh installs them)" % e, file=sys.stderr)
    return 1
  try:
    model = onnx_import.load_onnx(args.input)
    name = args.name or os.path.splitext(os.path.basename(args.input))[0]
    out = onnx_import.convert(model, name)
    size = srn.write(out, args.output)
  except onnx_import.ConversionError as e:
    print("onnx2srn: error: %s" % e, file=sys.stderr)
    return 1
  except OSError as e:
    print("onnx2srn: error: %s: %s" % (e.filename or args.output,
                                       e.strerror or e), file=sys.stderr)
    return 1
  except Exception as e:  # noqa: BLE001 - generation failures etc.
    if os.environ.get("SERENITY_DEBUG"):
      raise
    print("onnx2srn: internal error: %s: %s (set SERENITY_DEBUG=1 for a "
          "traceback)" % (type(e).__name__, e), file=sys.stderr)
    return 2
  print("onnx2srn: wrote %s: %d operators, %d tensors, %d parameters, %d "
        "bytes" % (args.output, len(out.operators), len(out.tensors),
                   out.parameter_count(), size))
  if args.check:
    written = srn.read(args.output)
    status = 0
    results = [("numpy .srn evaluator", lambda: check.compare(model, written))]
    serenity_run = check.find_serenity_run()
    if serenity_run:
      results.append(("Serenity runtime (%s)" % serenity_run,
                      lambda: check.compare_runtime(model, args.output, written,
                                                    serenity_run)))
    else:
      print("onnx2srn: check: serenity_run not found (build it, or set "
            "SERENITY_RUN); checking with the numpy .srn evaluator only")
    for label, run in results:
      try:
        worst, scale, rows = run()
      except (RuntimeError, ValueError) as e:
        print("onnx2srn: check FAILED: %s: %s" % (label, e))
        status = 1
        continue
      for name, diff, mag in rows:
        print("onnx2srn: check: %s: output %s: max |difference| %.3g (max "
              "|value| %.3g)" % (label, name, diff, mag))
      rel = worst / max(scale, 1e-30)
      ok = rel <= args.tolerance
      print("onnx2srn: check %s: %s vs numpy ONNX evaluator: largest "
            "difference %.3g, %.3g relative to the largest output (tolerance "
            "%.1g)" % ("passed" if ok else "FAILED", label, worst, rel,
                       args.tolerance))
      status = status if ok else 1
    return status
  return 0
