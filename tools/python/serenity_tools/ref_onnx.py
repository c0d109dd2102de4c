"""A small NCHW numpy evaluator of ONNX graphs: the independent side of
`onnx2srn --check` and of the tests. It follows the ONNX operator
specifications directly (NCHW, OIHW weights, ONNX padding and coordinate
conventions) and shares no code with the converter or the .srn evaluator.
Computes in float64.
"""
import numpy as np
import onnx
from onnx import numpy_helper


class EvalError(Exception):
  pass


def _attrs(node):
  return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _str(v):
  return v.decode() if isinstance(v, bytes) else v


def _auto_pads(a, in_hw, kernel, strides, dil):
  mode = _str(a.get("auto_pad", "NOTSET"))
  if mode in ("SAME_UPPER", "SAME_LOWER"):
    pads_b, pads_e = [], []
    for size, k, s, d in zip(in_hw, kernel, strides, dil):
      out = -(-size // s)
      total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
      lo = total // 2 if mode == "SAME_UPPER" else total - total // 2
      pads_b.append(lo)
      pads_e.append(total - lo)
    return pads_b + pads_e
  if mode == "VALID":
    return [0, 0, 0, 0]
  return list(a.get("pads", [0, 0, 0, 0]))


def conv(x, w, b, a):
  n, c, h, wd = x.shape
  o, cg, kh, kw = w.shape
  g = a.get("group", 1)
  s = list(a.get("strides", [1, 1]))
  d = list(a.get("dilations", [1, 1]))
  pt, pl, pb, pr = _auto_pads(a, [h, wd], [kh, kw], s, d)
  xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
  oh = (h + pt + pb - (kh - 1) * d[0] - 1) // s[0] + 1
  ow = (wd + pl + pr - (kw - 1) * d[1] - 1) // s[1] + 1
  og = o // g
  xg = xp.reshape(n, g, cg, xp.shape[2], xp.shape[3])
  wg = w.reshape(g, og, cg, kh, kw)
  y = np.zeros((n, g, og, oh, ow))
  for i in range(kh):
    for j in range(kw):
      r0, c0 = i * d[0], j * d[1]
      patch = xg[:, :, :, r0:r0 + (oh - 1) * s[0] + 1:s[0],
                 c0:c0 + (ow - 1) * s[1] + 1:s[1]]
      y += np.einsum("ngchw,goc->ngohw", patch, wg[:, :, :, i, j],
                     optimize=True)
  y = y.reshape(n, o, oh, ow)
  if b is not None:
    y = y + b.reshape(1, o, 1, 1)
  return y


def pool(x, a, kind):
  n, c, h, w = x.shape
  kh, kw = a["kernel_shape"]
  s = list(a.get("strides", [1, 1]))
  pt, pl, pb, pr = _auto_pads(a, [h, w], [kh, kw], s, [1, 1])
  ceil = a.get("ceil_mode", 0)

  def out_size(size, k, st, p0, p1):
    span = size + p0 + p1 - k
    if ceil:
      o = -(-span // st) + 1
      if (o - 1) * st >= size + p0:
        o -= 1
      return o
    return span // st + 1

  oh = out_size(h, kh, s[0], pt, pb)
  ow = out_size(w, kw, s[1], pl, pr)
  # Pad far enough for every window; mark real, explicitly padded and
  # beyond-padding (ceil overhang) positions.
  eb = max((oh - 1) * s[0] + kh - (h + pt), 0)
  er = max((ow - 1) * s[1] + kw - (w + pl), 0)
  fill = -np.inf if kind == "max" else 0.0
  xp = np.pad(x, ((0, 0), (0, 0), (pt, eb), (pl, er)), constant_values=fill)
  real = np.zeros((h + pt + eb, w + pl + er))
  real[pt:pt + h, pl:pl + w] = 1
  inpad = np.zeros_like(real)
  inpad[:pt + h + pb, :pl + w + pr] = 1
  acc = np.full((n, c, oh, ow), -np.inf) if kind == "max" else np.zeros(
      (n, c, oh, ow))
  cnt_real = np.zeros((oh, ow))
  cnt_pad = np.zeros((oh, ow))
  for i in range(kh):
    for j in range(kw):
      sl = (slice(i, i + (oh - 1) * s[0] + 1, s[0]),
            slice(j, j + (ow - 1) * s[1] + 1, s[1]))
      patch = xp[:, :, sl[0], sl[1]]
      if kind == "max":
        acc = np.maximum(acc, patch)
      else:
        acc = acc + patch
        cnt_real += real[sl]
        cnt_pad += inpad[sl]
  if kind == "max":
    return acc
  if a.get("count_include_pad", 0):
    return acc / cnt_pad
  return acc / cnt_real


def resize_linear(x, out_hw, scales, mode):
  n, c, h, w = x.shape

  def coords(out, size, scale):
    o = np.arange(out, dtype=np.float64)
    if mode == "align_corners":
      src = o * (size - 1) / (out - 1) if out > 1 else np.zeros_like(o)
    elif mode == "asymmetric":
      src = o / scale
    elif mode == "pytorch_half_pixel":
      src = (o + 0.5) / scale - 0.5 if out > 1 else np.zeros_like(o)
    else:  # half_pixel
      src = (o + 0.5) / scale - 0.5
    src = np.clip(src, 0, size - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, size - 1)
    return lo, hi, src - lo

  y0, y1, fy = coords(out_hw[0], h, scales[0])
  x0, x1, fx = coords(out_hw[1], w, scales[1])
  top = x[:, :, y0, :] * (1 - fy)[:, None] + x[:, :, y1, :] * fy[:, None]
  return top[:, :, :, x0] * (1 - fx) + top[:, :, :, x1] * fx


def evaluate(model, feeds):
  """Runs the ONNX graph on `feeds` ({input name: array}); returns
  {output name: float64 array}."""
  g = model.graph
  opset = 13
  for imp in model.opset_import:
    if imp.domain in ("", "ai.onnx"):
      opset = imp.version
  env = {}
  for init in g.initializer:
    env[init.name] = numpy_helper.to_array(init)
  for k, v in feeds.items():
    env[k] = np.asarray(v, dtype=np.float64)
  for node in g.node:
    ins = [env[x] if x else None for x in node.input]
    a = _attrs(node)
    outs = _run(node, node.op_type, ins, a, opset)
    for name, val in zip(node.output, outs):
      if name:
        env[name] = val
  return {o.name: env[o.name] for o in g.output}


def _f(v):
  return np.asarray(v, dtype=np.float64) if np.asarray(v).dtype.kind == "f" \
      else np.asarray(v)


def _run(node, op, ins, a, opset):
  x = ins[0] if ins else None
  if op == "Constant":
    if "value" in a:
      return [numpy_helper.to_array(a["value"])]
    for key in ("value_float", "value_int", "value_floats", "value_ints"):
      if key in a:
        return [np.array(a[key])]
  if op == "Conv":
    return [conv(_f(x), _f(ins[1]), None if len(ins) < 3 or ins[2] is None
                 else _f(ins[2]), a)]
  if op == "BatchNormalization":
    sc, b, m, v = [_f(t).reshape(1, -1, *([1] * (x.ndim - 2)))
                   for t in ins[1:5]]
    return [(x - m) / np.sqrt(v + a.get("epsilon", 1e-5)) * sc + b]
  if op == "Relu":
    return [np.maximum(x, 0)]
  if op == "Sigmoid":
    return [1 / (1 + np.exp(-x))]
  if op == "Clip":
    lo = a.get("min", -np.inf)
    hi = a.get("max", np.inf)
    if len(ins) > 1 and ins[1] is not None:
      lo = float(ins[1])
    if len(ins) > 2 and ins[2] is not None:
      hi = float(ins[2])
    return [np.clip(x, lo, hi)]
  if op == "HardSigmoid":
    return [np.clip(a.get("alpha", 0.2) * x + a.get("beta", 0.5), 0, 1)]
  if op == "HardSwish":
    return [x * np.clip(x / 6 + 0.5, 0, 1)]
  if op in ("Add", "Sub", "Mul", "Div"):
    l, r = ins[0], ins[1]
    fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
          "Div": np.divide}[op]
    if op == "Div" and np.asarray(l).dtype.kind in "iu":
      return [np.trunc(l / r).astype(np.asarray(l).dtype)]
    return [fn(l, r)]
  if op in ("Sum", "Mean"):
    total = sum(_f(t) for t in ins)
    return [total / len(ins) if op == "Mean" else total]
  if op == "Concat":
    return [np.concatenate([t for t in ins if t is not None], axis=a["axis"])]
  if op == "MaxPool":
    return [pool(x, a, "max")]
  if op == "AveragePool":
    return [pool(x, a, "avg")]
  if op == "GlobalAveragePool":
    return [x.mean(axis=(2, 3), keepdims=True)]
  if op == "GlobalMaxPool":
    return [x.max(axis=(2, 3), keepdims=True)]
  if op == "ReduceMean":
    axes = a.get("axes")
    if axes is None and len(ins) > 1:
      axes = list(ins[1])
    return [x.mean(axis=tuple(axes), keepdims=bool(a.get("keepdims", 1)))]
  if op == "Flatten":
    axis = a.get("axis", 1) % max(x.ndim, 1)
    return [x.reshape(int(np.prod(x.shape[:axis])), -1)]
  if op == "Reshape":
    shape = [int(s) for s in ins[1]]
    shape = [x.shape[k] if s == 0 and not a.get("allowzero", 0) else s
             for k, s in enumerate(shape)]
    return [x.reshape(shape)]
  if op == "Shape":
    return [np.array(x.shape, dtype=np.int64)[a.get("start", 0):a.get("end")]]
  if op == "Gather":
    return [np.take(x, ins[1], axis=a.get("axis", 0))]
  if op in ("Unsqueeze", "Squeeze"):
    axes = a.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
      axes = [int(v) for v in ins[1]]
    if op == "Squeeze":
      return [np.squeeze(x) if axes is None else
              np.squeeze(x, axis=tuple(v % x.ndim for v in axes))]
    rank = x.ndim + len(axes)
    for ax in sorted(v % rank for v in axes):
      x = np.expand_dims(x, ax)
    return [x]
  if op == "Cast":
    to = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_,
          11: np.float64}[a["to"]]
    return [np.asarray(x).astype(to)]
  if op == "ConstantOfShape":
    val = numpy_helper.to_array(a["value"]).ravel()[0] if "value" in a else 0.
    return [np.full([int(s) for s in x], val)]
  if op == "Gemm":
    A = x.T if a.get("transA", 0) else x
    B = ins[1].T if a.get("transB", 0) else ins[1]
    y = a.get("alpha", 1.0) * (A @ _f(B))
    if len(ins) > 2 and ins[2] is not None:
      y = y + a.get("beta", 1.0) * _f(ins[2])
    return [y]
  if op == "MatMul":
    return [x @ _f(ins[1])]
  if op == "Softmax":
    if opset < 13:
      axis = a.get("axis", 1) % x.ndim
      flat = x.reshape(int(np.prod(x.shape[:axis])), -1)
      e = np.exp(flat - flat.max(axis=1, keepdims=True))
      return [(e / e.sum(axis=1, keepdims=True)).reshape(x.shape)]
    axis = a.get("axis", -1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return [e / e.sum(axis=axis, keepdims=True)]
  if op == "Pad":
    pads = [int(p) for p in ins[1]]
    r = x.ndim
    value = 0.0 if len(ins) < 3 or ins[2] is None else float(ins[2])
    return [np.pad(x, [(pads[k], pads[k + r]) for k in range(r)],
                   constant_values=value)]
  if op == "Slice":
    starts, ends = ins[1], ins[2]
    axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
    steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    sl = [slice(None)] * x.ndim
    for st, en, ax, sp in zip(starts, ends, axes, steps):
      dim = x.shape[int(ax)]
      en = int(en)
      en = max(min(en, dim), -dim - 1) if en < 0 else min(en, dim)
      sl[int(ax)] = slice(int(st), en, int(sp))
    return [x[tuple(sl)]]
  if op == "Resize":
    mode = _str(a.get("mode", "nearest"))
    if mode != "linear":
      raise EvalError("Resize mode %s" % mode)
    ctm = _str(a.get("coordinate_transformation_mode", "half_pixel"))
    scales = ins[2] if len(ins) > 2 and ins[2] is not None and np.size(
        ins[2]) else None
    sizes = ins[3] if len(ins) > 3 and ins[3] is not None else None
    if sizes is not None and np.size(sizes):
      out_hw = [int(sizes[2]), int(sizes[3])]
      sc = [out_hw[0] / x.shape[2], out_hw[1] / x.shape[3]]
    else:
      sc = [float(scales[2]), float(scales[3])]
      out_hw = [int(np.floor(x.shape[2] * sc[0])),
                int(np.floor(x.shape[3] * sc[1]))]
    return [resize_linear(x, out_hw, sc, ctm)]
  if op in ("Identity", "Dropout"):
    return [x] + [None] * 1
  if op == "Transpose":
    return [np.transpose(x, a.get("perm"))]
  if op == "Range":
    return [np.arange(ins[0], ins[1], ins[2])]
  if op == "Equal":
    return [np.equal(ins[0], ins[1])]
  if op == "Where":
    return [np.where(ins[0], ins[1], ins[2])]
  if op == "Expand":
    return [x * np.ones([int(s) for s in ins[1]], dtype=x.dtype)]
  if op in ("Floor", "Ceil", "Sqrt", "Neg", "Abs", "Not"):
    fn = {"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt,
          "Neg": np.negative, "Abs": np.abs, "Not": np.logical_not}[op]
    return [fn(x)]
  raise EvalError("the reference evaluator has no %s" % op)
