#!/usr/bin/python3
"""compare-npy.py REFERENCE.npy CANDIDATE.npy [--tolerance T]

Compares a model output computed on one machine (the reference, e.g. x86)
with the same model's output on another (e.g. aarch64 under qemu): same shape,
every value finite, and

    max |candidate - reference| <= T * scale,  scale = max(max |reference|, 1e-6)

(T defaults to 1e-4: XNNPACK's NEON and x86 kernels accumulate in different
orders and fuse multiply-adds differently, which moves float32 results by a
few ulps per accumulation, far below 1e-4 of the output's range). Prints one
line and exits 0 on a match, 1 on a mismatch, 2 on unreadable input.
Needs Debian's python3-numpy (hence /usr/bin/python3).
"""
import argparse
import sys

import numpy as np


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
  parser.add_argument("reference")
  parser.add_argument("candidate")
  parser.add_argument("--tolerance", type=float, default=1e-4,
                      help="allowed max abs difference relative to the "
                      "reference's max abs value (default 1e-4)")
  args = parser.parse_args(argv)
  try:
    reference = np.load(args.reference)
    candidate = np.load(args.candidate)
  except (OSError, ValueError) as e:
    print("compare-npy: error: %s" % e, file=sys.stderr)
    return 2
  if reference.shape != candidate.shape:
    print("compare-npy: MISMATCH: shape %s vs %s" % (reference.shape,
                                                     candidate.shape))
    return 1
  reference = reference.astype(np.float64)
  candidate = candidate.astype(np.float64)
  if not np.all(np.isfinite(reference)) or not np.all(np.isfinite(candidate)):
    print("compare-npy: MISMATCH: non-finite values (reference %d, candidate %d)"
          % (np.count_nonzero(~np.isfinite(reference)),
             np.count_nonzero(~np.isfinite(candidate))))
    return 1
  scale = max(float(np.max(np.abs(reference))) if reference.size else 0.0, 1e-6)
  diff = np.abs(candidate - reference)
  max_diff = float(np.max(diff)) if diff.size else 0.0
  worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
  relative = max_diff / scale
  verdict = "OK" if relative <= args.tolerance else "MISMATCH"
  print("compare-npy: %s: shape %s, max |diff| %.3g at %s, output scale %.4g, "
        "relative %.3g (tolerance %.1g)" % (verdict, tuple(reference.shape),
                                            max_diff, tuple(int(i) for i in worst),
                                            scale, relative, args.tolerance))
  return 0 if verdict == "OK" else 1


if __name__ == "__main__":
  sys.exit(main())
