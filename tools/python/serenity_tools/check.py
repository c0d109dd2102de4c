"""The comparison behind `onnx2srn --check`: one random input through the
ONNX graph (ref_onnx, NCHW) and through the converted .srn graph (ref_srn,
NHWC, standing in for Serenity's runtime until it exists)."""
import numpy as np

from . import ref_onnx
from . import ref_srn


def to_srn_layout(array):
  return array.transpose(0, 2, 3, 1) if array.ndim == 4 else array


def from_srn_layout(array):
  return array.transpose(0, 3, 1, 2) if array.ndim == 4 else array


def random_feeds(srn_model, onnx_model, seed=0):
  rng = np.random.default_rng(seed)
  init = {i.name for i in onnx_model.graph.initializer}
  feeds = {}
  for t in srn_model.inputs:
    tensor = srn_model.tensors[t]
    shape = tensor.shape
    if len(shape) == 4:
      shape = [shape[0], shape[3], shape[1], shape[2]]
    feeds[tensor.name] = rng.standard_normal(shape).astype(np.float32)
  return {k: v for k, v in feeds.items() if k not in init}


def compare(onnx_model, srn_model, seed=0):
  """Returns (max abs difference, max abs reference value, per-output list)."""
  feeds = random_feeds(srn_model, onnx_model, seed)
  expected = ref_onnx.evaluate(onnx_model, feeds)
  got = ref_srn.evaluate(srn_model, {k: to_srn_layout(v)
                                     for k, v in feeds.items()})
  worst = 0.0
  scale = 0.0
  rows = []
  for name, ref in expected.items():
    out = from_srn_layout(got[name])
    if out.shape != ref.shape:
      raise ValueError("output %s: shape %s, ONNX gives %s" %
                       (name, list(out.shape), list(ref.shape)))
    diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
    mag = float(np.max(np.abs(ref))) if ref.size else 0.0
    rows.append((name, diff, mag))
    worst = max(worst, diff)
    scale = max(scale, mag)
  return worst, scale, rows


def find_serenity_run():
  """serenity_run next to the launcher (build/<preset>/tools), or $SERENITY_RUN."""
  import os
  import sys
  candidates = [os.environ.get("SERENITY_RUN")]
  if sys.argv and sys.argv[0]:
    candidates.append(os.path.join(os.path.dirname(os.path.abspath(
        sys.argv[0])), "serenity_run"))
  for c in candidates:
    if c and os.path.isfile(c) and os.access(c, os.X_OK):
      return c
  return None


def compare_runtime(onnx_model, srn_path, srn_model, serenity_run, seed=0,
                    timeout=600):
  """Runs the .srn through Serenity's runtime (serenity_run, NCHW .npy files
  at the boundary) and the ONNX graph through ref_onnx on the same input.
  Returns (max abs difference, max abs reference value, rows) or raises
  RuntimeError with serenity_run's message."""
  import os
  import subprocess
  import tempfile
  feeds = random_feeds(srn_model, onnx_model, seed)
  expected = ref_onnx.evaluate(onnx_model, feeds)
  with tempfile.TemporaryDirectory() as tmp:
    cmd = [serenity_run, "--model", srn_path, "--runs", "1", "--warmup", "0",
           "--scheduler", "stored"]
    for t in srn_model.inputs:
      name = srn_model.tensors[t].name
      path = os.path.join(tmp, "in%d.npy" % t)
      np.save(path, feeds[name])
      cmd += ["--input", path]
    outs = []
    for t in srn_model.outputs:
      path = os.path.join(tmp, "out%d.npy" % t)
      outs.append((srn_model.tensors[t].name, path))
      cmd += ["--output", path]
    result = subprocess.run(cmd, capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
      raise RuntimeError((result.stderr or result.stdout).strip())
    got = {name: np.load(path) for name, path in outs}
  worst = scale = 0.0
  rows = []
  for name, ref in expected.items():
    out = got[name]
    if list(out.shape) != list(ref.shape):
      raise RuntimeError("output %s: runtime shape %s, ONNX gives %s" %
                         (name, list(out.shape), list(ref.shape)))
    diff = float(np.max(np.abs(out - ref))) if ref.size else 0.0
    mag = float(np.max(np.abs(ref))) if ref.size else 0.0
    rows.append((name, diff, mag))
    worst, scale = max(worst, diff), max(scale, mag)
  return worst, scale, rows
