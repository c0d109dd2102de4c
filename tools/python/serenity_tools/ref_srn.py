"""A numpy evaluator of .srn graphs (NHWC, OHWI weights), following the
conventions of model_format/serenity.fbs. It stands in for Serenity's runtime
in `onnx2srn --check` until the runtime exists. Computes in float64; runs the
operators in stored order.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _act(y, activation):
  if activation == "RELU":
    return np.maximum(y, 0)
  if activation == "RELU6":
    return np.clip(y, 0, 6)
  return y


def _windows(x, kh, kw, sh, sw, dh=1, dw=1):
  """[N, OH, OW, C, KH, KW] view of an already padded NHWC tensor."""
  ekh, ekw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
  v = sliding_window_view(x, (ekh, ekw), axis=(1, 2))
  return v[:, ::sh, ::sw, :, ::dh, ::dw]


def conv2d(x, w, b, o):
  pads = ((0, 0), (o["pad_top"], o["pad_bottom"]),
          (o["pad_left"], o["pad_right"]), (0, 0))
  xp = np.pad(x, pads)
  oc, kh, kw, cg = w.shape
  g = o["groups"]
  win = _windows(xp, kh, kw, o["stride_h"], o["stride_w"], o["dilation_h"],
                 o["dilation_w"])
  n, oh, ow = win.shape[:3]
  og = oc // g
  if g == 1:
    y = np.tensordot(win, w, axes=([3, 4, 5], [3, 1, 2]))
  elif cg == 1 and og == 1:  # depthwise
    y = np.einsum("nhwckl,ckl->nhwc", win, w[:, :, :, 0], optimize=True)
  else:
    win = win.reshape(n, oh, ow, g, cg, kh, kw)
    wg = w.reshape(g, og, kh, kw, cg)
    y = np.einsum("nhwgckl,goklc->nhwgo", win, wg, optimize=True).reshape(
        n, oh, ow, oc)
  if b is not None:
    y = y + b
  return _act(y, o["activation"])


def pool2d(x, o, kind):
  kh, kw = o["filter_h"], o["filter_w"]
  pads = ((0, 0), (o["pad_top"], o["pad_bottom"]),
          (o["pad_left"], o["pad_right"]), (0, 0))
  if kind == "max":
    xp = np.pad(x, pads, constant_values=-np.inf)
    return _windows(xp, kh, kw, o["stride_h"], o["stride_w"]).max(axis=(4, 5))
  xp = np.pad(x, pads)
  total = _windows(xp, kh, kw, o["stride_h"], o["stride_w"]).sum(axis=(4, 5))
  if o["count_include_pad"]:
    return total / (kh * kw)
  ones = np.pad(np.ones((1, x.shape[1], x.shape[2], 1)), pads)
  count = _windows(ones, kh, kw, o["stride_h"], o["stride_w"]).sum(
      axis=(4, 5))
  return total / count


def resize_bilinear(x, out_h, out_w, o):
  n, h, w, c = x.shape

  def source(out, size):
    i = np.arange(out, dtype=np.float64)
    if o["align_corners"] and out > 1:
      pos = i * ((size - 1) / (out - 1))
    elif o["half_pixel_centers"]:
      pos = (i + 0.5) * (size / out) - 0.5
    else:
      pos = i * (size / out)
    lo_f = np.floor(pos)
    frac = pos - lo_f
    lo = np.clip(lo_f.astype(int), 0, size - 1)
    hi = np.clip(lo_f.astype(int) + 1, 0, size - 1)
    frac = np.where(pos < 0, 0.0, frac)
    return lo, hi, frac

  ylo, yhi, fy = source(out_h, h)
  xlo, xhi, fx = source(out_w, w)
  rows = (x[:, ylo] * (1 - fy)[None, :, None, None] +
          x[:, yhi] * fy[None, :, None, None])
  return (rows[:, :, xlo] * (1 - fx)[None, None, :, None] +
          rows[:, :, xhi] * fx[None, None, :, None])


def evaluate(model, feeds):
  """feeds: {input tensor name: array in the .srn (NHWC) layout}. Returns
  {output tensor name: float64 array in the .srn layout}."""
  env = {}
  for i in model.inputs:
    env[i] = np.asarray(feeds[model.tensors[i].name], dtype=np.float64)

  def get(i):
    if i < 0:
      return None
    t = model.tensors[i]
    if t.is_constant:
      return t.data.astype(np.float64)
    return env[i]

  for op in model.operators:
    xs = [get(i) for i in op.inputs]
    x = xs[0]
    o = {k: op.option(k) for k in ("stride_h", "stride_w", "dilation_h",
                                   "dilation_w", "pad_top", "pad_bottom",
                                   "pad_left", "pad_right", "groups",
                                   "activation", "filter_h", "filter_w",
                                   "count_include_pad", "axis", "min", "max",
                                   "value", "align_corners",
                                   "half_pixel_centers")}
    out_shape = model.tensors[op.outputs[0]].shape
    code = op.opcode
    if code == "CONV_2D":
      y = conv2d(x, xs[1], xs[2], o)
    elif code == "FULLY_CONNECTED":
      y = x @ xs[1].T
      if xs[2] is not None:
        y = y + xs[2]
      y = _act(y, o["activation"])
    elif code == "MAX_POOL_2D":
      y = pool2d(x, o, "max")
    elif code == "AVERAGE_POOL_2D":
      y = pool2d(x, o, "avg")
    elif code == "GLOBAL_AVERAGE_POOL":
      y = x.mean(axis=(1, 2), keepdims=True)
    elif code == "ADD":
      y = xs[0]
      for t in xs[1:]:
        y = y + t
      y = _act(y, o["activation"])
    elif code == "MUL":
      y = _act(xs[0] * xs[1], o["activation"])
    elif code == "CONCAT":
      y = np.concatenate(xs, axis=o["axis"])
    elif code == "RELU":
      y = np.maximum(x, 0)
    elif code == "CLAMP":
      y = np.clip(x, o["min"], o["max"])
    elif code == "SIGMOID":
      y = 1 / (1 + np.exp(-x))
    elif code == "HARD_SWISH":
      y = x * np.clip(x + 3, 0, 6) / 6
    elif code == "SOFTMAX":
      e = np.exp(x - x.max(axis=-1, keepdims=True))
      y = e / e.sum(axis=-1, keepdims=True)
    elif code == "RESHAPE":
      y = x.reshape(out_shape)
    elif code == "PAD":
      p = op.options["paddings"]
      y = np.pad(x, [(p[2 * k], p[2 * k + 1]) for k in range(x.ndim)],
                 constant_values=o["value"])
    elif code == "SLICE":
      begin, size = op.options["begin"], op.options["size"]
      y = x[tuple(slice(b, None if s == -1 else b + s)
                  for b, s in zip(begin, size))]
    elif code == "RESIZE_BILINEAR":
      y = resize_bilinear(x, out_shape[1], out_shape[2], o)
    else:
      raise ValueError("no evaluator for %s" % code)
    if list(y.shape) != list(out_shape):
      raise ValueError("operator %s (%s) produced shape %s, the model says %s"
                       % (op.name, code, list(y.shape), out_shape))
    env[op.outputs[0]] = y
  return {model.tensors[i].name: env[i] for i in model.outputs}
