"""ONNX (opsets 11-17, as torch.onnx.export emits them) to .srn.

Layout: every rank-4 activation is stored NHWC inside the .srn graph and
weights are re-laid out (OIHW -> OHWI, Gemm/MatMul -> [O, K]). Graph inputs
and outputs keep their ONNX names; rank-4 ones are stored NHWC and the model
carries the metadata serenity.io_layout = nchw, so the engine's input/output
copy (which happens anyway) transposes them: no transpose operator and no
second arena buffer per boundary tensor.

The stored operator order is the ONNX node order: each node emits its .srn
operators where it stands; nodes that vanish (constant chains, Identity,
Dropout, BatchNormalization folded into a Conv, Relu/Clip fused into the
producer's activation) emit none.

Errors a user can cause raise ConversionError with a one-line message.
"""
import json
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

from . import srn

MIN_OPSET = 11
MAX_OPSET = 17
# Limits of the C++ reader (kMaxOperators, kMaxTensors, kMaxRank).
MAX_OPERATORS = 1 << 15
MAX_TENSORS = 1 << 16
MAX_RANK = 6


class ConversionError(Exception):
  pass


class _Problem(Exception):
  """This node cannot be converted (collected; reported all together)."""


class Val:
  """A value of the ONNX graph during conversion.

  kind "const": `array` holds the ONNX value.
  kind "act": `tensor` is the .srn tensor index, `shape` the ONNX shape,
    `layout` "nhwc" (rank 4, stored NHWC), "plain" (stored as in ONNX) or
    "flat_hwc" (rank 2 [N, C*H*W] whose elements are in H, W, C order: a
    flattened NHWC tensor; `chw` holds (C, H, W)).
  kind "hardsigmoid": not emitted yet; HardSigmoid(alpha, beta) of `src`.
  kind "bad": produced by a node that could not be converted.
  """

  def __init__(self, kind, **kw):
    self.kind = kind
    self.array = kw.get("array")
    self.tensor = kw.get("tensor")
    self.shape = kw.get("shape")
    self.layout = kw.get("layout", "plain")
    self.chw = kw.get("chw")
    self.src = kw.get("src")
    self.alpha = kw.get("alpha")
    self.beta = kw.get("beta")
    self.node = kw.get("node")
    self.uses = 0


def _nhwc(shape):
  return [shape[0], shape[2], shape[3], shape[1]]


_NCHW_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


def _plain_equivalent(val):
  """True if the stored element order of `val` equals the ONNX order."""
  if val.layout == "plain":
    return True
  if val.layout == "nhwc":
    n, c, h, w = val.shape
    return h * w == 1 or c == 1
  return False


def _attrs(node):
  return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _const_to_nhwc(array, rank4):
  """A constant that broadcasts against an NCHW tensor, re-laid out to
  broadcast against the NHWC one."""
  a = np.asarray(array, dtype=np.float32)
  if a.size == 1:
    return a.reshape([1])
  if not rank4:
    return a
  if a.ndim > 4:
    raise _Problem("constant of rank %d against a rank-4 tensor" % a.ndim)
  a = a.reshape([1] * (4 - a.ndim) + list(a.shape))
  return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _same_pads(in_size, kernel, stride, dilation, mode):
  eff = (kernel - 1) * dilation + 1
  out = -(-in_size // stride)
  total = max((out - 1) * stride + eff - in_size, 0)
  small = total // 2
  if mode == "SAME_UPPER":
    return small, total - small
  return total - small, small


class Converter:

  def __init__(self, model, name=None):
    self.onnx_model = model
    self.graph = model.graph
    self.out = srn.Model(name or self.graph.name or "model")
    self.vals = {}
    self.problems = []  # (op_type, node name, reason)
    self.opset = None
    self.producer = {}  # srn tensor index -> srn operator index
    self.static_uses = {}
    self.node_counter = 0
    self.names = set()

  # ---- helpers ---------------------------------------------------------

  def unique(self, name):
    base = name or "t"
    candidate = base
    i = 1
    while candidate in self.names:
      candidate = "%s_%d" % (base, i)
      i += 1
    self.names.add(candidate)
    return candidate

  def new_act(self, name, onnx_shape, layout="plain", chw=None):
    stored = _nhwc(onnx_shape) if layout == "nhwc" else list(onnx_shape)
    t = self.out.add_tensor(self.unique(name), stored)
    return Val("act", tensor=t, shape=list(onnx_shape), layout=layout, chw=chw)

  def act_for(self, name, onnx_shape, layout_hint=None, chw=None):
    layout = layout_hint or ("nhwc" if len(onnx_shape) == 4 else "plain")
    return self.new_act(name, onnx_shape, layout, chw)

  def const_tensor(self, name, array):
    array = np.ascontiguousarray(array, dtype=np.float32)
    return self.out.add_tensor(self.unique(name), list(array.shape), array)

  def emit(self, opcode, name, inputs, outputs, options=None):
    idx = self.out.add_operator(opcode, name, inputs, outputs, options)
    for t in outputs:
      self.producer[t] = idx
    return idx

  def act(self, val, what="input"):
    """The .srn tensor of an activation value, emitting a deferred one."""
    if val.kind == "hardsigmoid":
      self.materialize_hardsigmoid(val)
    if val.kind != "act":
      raise _Problem("%s is not an activation" % what)
    return val.tensor

  def get(self, node, i, optional=False):
    if i >= len(node.input) or node.input[i] == "":
      if optional:
        return None
      raise _Problem("missing input %d" % i)
    name = node.input[i]
    if name not in self.vals:
      raise ConversionError(
          "malformed ONNX: node '%s' (%s) reads '%s', which no node, "
          "initializer or graph input produces (or the nodes are not in "
          "topological order)" % (node.name, node.op_type, name))
    return self.vals[name]

  def const_input(self, node, i, what, optional=False):
    v = self.get(node, i, optional)
    if v is None:
      return None
    if v.kind != "const":
      raise _Problem("%s must be a constant" % what)
    return v.array

  def set_out(self, node, i, val):
    name = node.output[i]
    val.uses = self.static_uses.get(name, 0)
    self.vals[name] = val

  def sole_use_of_producer(self, val, opcodes):
    """The .srn operator producing `val` if it is one of `opcodes`, `val` has
    exactly one reader and is not a graph output or input."""
    if val.kind != "act" or val.uses != 1:
      return None
    op_idx = self.producer.get(val.tensor)
    if op_idx is None:
      return None
    op = self.out.operators[op_idx]
    if op.opcode not in opcodes or op.outputs != [val.tensor]:
      return None
    return op

  def rename(self, tensor, name):
    old = self.out.tensors[tensor].name
    self.names.discard(old)
    self.out.tensors[tensor].name = self.unique(name)

  # ---- driver ----------------------------------------------------------

  def run(self):
    model = self.onnx_model
    for imp in model.opset_import:
      if imp.domain in ("", "ai.onnx"):
        self.opset = imp.version
    if self.opset is None:
      raise ConversionError("malformed ONNX: no ai.onnx opset import")
    if not MIN_OPSET <= self.opset <= MAX_OPSET:
      raise ConversionError(
          "unsupported ONNX opset %d (onnx2srn supports opsets %d to %d; "
          "re-export with opset_version in that range)" %
          (self.opset, MIN_OPSET, MAX_OPSET))
    g = self.graph
    if len(g.node) == 0:
      raise ConversionError("malformed ONNX: the graph has no nodes")

    for n in g.node:
      for name in n.input:
        if name:
          self.static_uses[name] = self.static_uses.get(name, 0) + 1
    for o in g.output:
      self.static_uses[o.name] = self.static_uses.get(o.name, 0) + 1

    for init in g.initializer:
      try:
        arr = numpy_helper.to_array(init)
      except Exception as e:  # noqa: BLE001 - protobuf/numpy give many types
        raise ConversionError("malformed ONNX: initializer '%s': %s" %
                              (init.name, e))
      self.vals[init.name] = Val("const", array=arr)
    for inp in g.input:
      if inp.name in self.vals:
        continue  # an initializer listed as an input (older exporters)
      shape = self.input_shape(inp)
      v = self.act_for(inp.name, shape)
      self.names.discard(self.out.tensors[v.tensor].name)
      self.out.tensors[v.tensor].name = inp.name
      self.names.add(inp.name)
      v.uses = self.static_uses.get(inp.name, 0)
      self.vals[inp.name] = v
      self.out.inputs.append(v.tensor)
    if not self.out.inputs:
      raise ConversionError("malformed ONNX: the graph has no inputs")

    # Every node is visited even after a failure, so one error lists every
    # unsupported op type (with its nodes) and every other problem.
    unsupported = {}
    for i, node in enumerate(g.node):
      if not node.name:
        node.name = "%s_%d" % (node.op_type, i)
      known = node.domain in ("", "ai.onnx") and (
          node.op_type in HANDLERS or node.op_type in FOLDERS)
      if not known:
        key = (node.op_type if node.domain in ("", "ai.onnx") else
               "%s::%s" % (node.domain, node.op_type))
        unsupported.setdefault(key, []).append("'%s'" % node.name)
        for k in range(len(node.output)):
          self.set_out(node, k, Val("bad"))
        continue
      inputs = [self.vals.get(x) for x in node.input if x]
      if any(v is not None and v.kind == "bad" for v in inputs):
        if node.op_type not in HANDLERS and node.op_type != "Shape":
          unsupported.setdefault(node.op_type, []).append(
              "'%s' on a computed tensor" % node.name)
        for k in range(len(node.output)):
          self.set_out(node, k, Val("bad"))
        continue
      if node.op_type not in HANDLERS and not all(
          v is None or v.kind == "const" for v in inputs) and not (
              node.op_type == "Shape"):
        # Supported only as part of a constant expression.
        unsupported.setdefault(node.op_type, []).append(
            "'%s' on a computed tensor" % node.name)
        for k in range(len(node.output)):
          self.set_out(node, k, Val("bad"))
        continue
      try:
        self.convert_node(node)
      except _Problem as p:
        self.problems.append((node.op_type, node.name, str(p)))
        for k in range(len(node.output)):
          self.set_out(node, k, Val("bad"))
    if unsupported:
      message = "unsupported operators: " + "; ".join(
          "%s (%s)" % (k, ", ".join(v)) for k, v in sorted(unsupported.items()))
      if self.problems:
        message += "; also cannot convert: " + "; ".join(
            "%s node '%s': %s" % p for p in self.problems)
      raise ConversionError(message)

    for o in g.output:
      if o.name not in self.vals:
        raise ConversionError("malformed ONNX: graph output '%s' is never "
                              "produced" % o.name)
      try:
        self.bind_output(o.name)
      except _Problem as p:
        self.problems.append(("output", o.name, str(p)))
    if self.problems:
      raise ConversionError("cannot convert: " + "; ".join(
          "%s node '%s': %s" % p for p in self.problems))

    # The reader's limits (model_format/.../model.h): say so here rather than
    # write a file Serenity will refuse.
    if len(self.out.operators) > MAX_OPERATORS or len(
        self.out.tensors) > MAX_TENSORS:
      raise ConversionError(
          "the converted model has %d operators and %d tensors; Serenity's "
          "reader accepts at most %d and %d" % (
              len(self.out.operators), len(self.out.tensors), MAX_OPERATORS,
              MAX_TENSORS))
    for t in self.out.tensors:
      if len(t.shape) > MAX_RANK:
        raise ConversionError("tensor '%s' has rank %d; Serenity supports at "
                              "most %d" % (t.name, len(t.shape), MAX_RANK))
    self.out.metadata.append(("serenity.io_layout", "nchw"))
    self.out.metadata.append(("serenity.converter", "onnx2srn"))
    self.out.metadata.append(("serenity.onnx_opset", str(self.opset)))
    io = {
        "inputs": [{"name": i.name, "shape": self.vals[i.name].shape}
                   for i in g.input if self.vals[i.name].kind == "act"],
        "outputs": [{"name": o.name, "shape": self.vals[o.name].shape}
                    for o in g.output],
    }
    self.out.metadata.append(("serenity.onnx_io", json.dumps(io)))
    return self.out

  def input_shape(self, inp):
    t = inp.type.tensor_type
    if not inp.type.HasField("tensor_type"):
      raise ConversionError("graph input '%s' is not a tensor" % inp.name)
    if t.elem_type != onnx.TensorProto.FLOAT:
      raise ConversionError(
          "graph input '%s' has element type %s; onnx2srn converts float32 "
          "models" % (inp.name, onnx.TensorProto.DataType.Name(t.elem_type)))
    if not t.HasField("shape"):
      raise ConversionError("graph input '%s' has no shape" % inp.name)
    shape = []
    for k, d in enumerate(t.shape.dim):
      if d.HasField("dim_value") and d.dim_value > 0:
        shape.append(int(d.dim_value))
      elif k == 0:
        shape.append(1)  # a symbolic batch: Serenity runs batch 1
      else:
        raise ConversionError(
            "graph input '%s' has a symbolic dimension %d ('%s'); onnx2srn "
            "needs static shapes (export with fixed input sizes)" %
            (inp.name, k, d.dim_param))
    if len(shape) == 4 or len(shape) <= 2:
      return shape
    raise ConversionError("graph input '%s' has rank %d; onnx2srn supports "
                          "rank 4 (NCHW images) and rank 1-2" %
                          (inp.name, len(shape)))

  def bind_output(self, name):
    v = self.vals[name]
    if v.kind == "hardsigmoid":
      self.materialize_hardsigmoid(v)
    if v.kind == "const":
      raise _Problem("graph output is a constant")
    if v.kind == "bad":
      return
    if v.layout == "flat_hwc":
      raise _Problem("graph output is a flattened NCHW feature map (H, W > 1); "
                     "Serenity would return it in NHWC order")
    t = v.tensor
    taken = set(self.out.inputs) | set(self.out.outputs)
    if t in taken:
      # The value is already a graph input or output under another name: copy.
      shape = v.shape
      copy = self.act_for(name, shape, v.layout)
      self.emit("RESHAPE", name + "/copy", [t], [copy.tensor],
                {"new_shape": self.out.tensors[copy.tensor].shape})
      t = copy.tensor
    if self.out.tensors[t].name != name:
      self.rename(t, name)
    self.out.outputs.append(t)

  def convert_node(self, node):
    op = node.op_type
    ins = [self.vals.get(x) if x else None for x in node.input]
    if op in FOLDERS and all(v is None or v.kind == "const" for v in ins):
      folded = FOLDERS[op](self, node)
      if folded is not None:
        for k, arr in enumerate(folded):
          self.set_out(node, k, Val("const", array=arr))
        return
    if op == "Shape" and ins and ins[0] is not None and ins[0].kind in (
        "act", "hardsigmoid"):
      shape = np.array(ins[0].shape if ins[0].kind == "act" else
                       ins[0].src.shape, dtype=np.int64)
      a = _attrs(node)
      start = a.get("start", 0)
      end = a.get("end", None)
      self.set_out(node, 0, Val("const", array=shape[start:end]))
      return
    if op not in HANDLERS:
      raise _Problem("%s on a non-constant input is not supported" % op)
    HANDLERS[op](self, node)

  # ---- deferred HardSigmoid -------------------------------------------

  def materialize_hardsigmoid(self, v):
    src = v.src
    x = self.act(src)
    name = v.node
    scaled = self.act_for(name + "/scaled", src.shape, src.layout, src.chw)
    self.emit("MUL", name + "/mul", [x, self.const_tensor(
        name + "/alpha", np.array([v.alpha]))], [scaled.tensor])
    shifted = self.act_for(name + "/shifted", src.shape, src.layout, src.chw)
    self.emit("ADD", name + "/add", [scaled.tensor, self.const_tensor(
        name + "/beta", np.array([v.beta]))], [shifted.tensor])
    out = self.act_for(name, src.shape, src.layout, src.chw)
    self.emit("CLAMP", name, [shifted.tensor], [out.tensor],
              {"min": 0.0, "max": 1.0})
    v.kind = "act"
    v.tensor = out.tensor
    v.shape = out.shape
    v.layout = out.layout
    v.chw = out.chw


# ---------------------------------------------------------------------------
# Constant folding: ops evaluated in numpy when all inputs are constants (the
# Shape/Gather/Unsqueeze/Concat chains exporters emit for Reshape/Flatten).


def _fold_constant(c, node):
  a = _attrs(node)
  if "value" in a:
    return [numpy_helper.to_array(a["value"])]
  for key, dtype in (("value_float", np.float32), ("value_int", np.int64),
                     ("value_floats", np.float32), ("value_ints", np.int64)):
    if key in a:
      return [np.array(a[key], dtype=dtype)]
  raise _Problem("Constant without a supported value attribute")


def _in_consts(c, node):
  return [c.vals[x].array if x else None for x in node.input]


def _axes_of(c, node, index):
  a = _attrs(node)
  if "axes" in a:
    return list(a["axes"])
  if len(node.input) > index and node.input[index]:
    return [int(x) for x in c.vals[node.input[index]].array.ravel()]
  return None


def _fold_unsqueeze(c, node):
  x = _in_consts(c, node)[0]
  axes = _axes_of(c, node, 1)
  rank = x.ndim + len(axes)
  for ax in sorted(a % rank for a in axes):
    x = np.expand_dims(x, ax)
  return [x]


def _fold_squeeze(c, node):
  x = _in_consts(c, node)[0]
  axes = _axes_of(c, node, 1)
  if axes is None:
    return [np.squeeze(x)]
  return [np.squeeze(x, axis=tuple(a % x.ndim for a in axes))]


def _reshape_target(in_shape, target, allowzero=0):
  target = [int(t) for t in np.asarray(target).ravel()]
  out = []
  for k, t in enumerate(target):
    if t == 0 and not allowzero:
      out.append(in_shape[k])
    else:
      out.append(t)
  if out.count(-1) > 1:
    raise _Problem("Reshape target has more than one -1")
  if -1 in out:
    known = int(np.prod([d for d in out if d != -1]))
    total = int(np.prod(in_shape))
    if known == 0 or total % known:
      raise _Problem("Reshape target %s does not fit %s" % (target, in_shape))
    out[out.index(-1)] = total // known
  if int(np.prod(out)) != int(np.prod(in_shape)):
    raise _Problem("Reshape target %s does not fit %s" % (target, in_shape))
  return out


def _fold_reshape(c, node):
  x, shape = _in_consts(c, node)[:2]
  return [x.reshape(_reshape_target(list(x.shape), shape,
                                    _attrs(node).get("allowzero", 0)))]


def _slice_params(shape, starts, ends, axes, steps):
  rank = len(shape)
  starts = [int(s) for s in np.asarray(starts).ravel()]
  ends = [int(e) for e in np.asarray(ends).ravel()]
  axes = (list(range(len(starts))) if axes is None else
          [int(a) % rank for a in np.asarray(axes).ravel()])
  steps = ([1] * len(starts) if steps is None else
           [int(s) for s in np.asarray(steps).ravel()])
  begin = [0] * rank
  end = list(shape)
  step = [1] * rank
  for s, e, ax, st in zip(starts, ends, axes, steps):
    dim = shape[ax]
    if st == 0:
      raise _Problem("Slice step 0")
    if s < 0:
      s += dim
    if e < 0:
      e += dim
    if st > 0:
      s = min(max(s, 0), dim)
      e = min(max(e, 0), dim)
    else:
      s = min(max(s, -1), dim - 1)
      e = min(max(e, -1), dim - 1)
    begin[ax], end[ax], step[ax] = s, e, st
  return begin, end, step


def _fold_slice(c, node):
  ins = _in_consts(c, node)
  x = ins[0]
  if len(ins) >= 3:
    starts, ends = ins[1], ins[2]
    axes = ins[3] if len(ins) > 3 else None
    steps = ins[4] if len(ins) > 4 else None
  else:
    a = _attrs(node)
    starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
  begin, end, step = _slice_params(list(x.shape), starts, ends, axes, steps)
  sl = tuple(slice(b, e if e >= 0 else None, s)
             for b, e, s in zip(begin, end, step))
  return [x[sl]]


def _fold_binary(fn):
  def fold(c, node):
    a, b = _in_consts(c, node)[:2]
    return [np.asarray(fn(a, b))]
  return fold


def _int_div(a, b):
  if np.issubdtype(np.asarray(a).dtype, np.integer):
    return np.trunc(np.asarray(a) / np.asarray(b)).astype(np.asarray(a).dtype)
  return np.asarray(a) / np.asarray(b)


_ONNX_TO_NP = {
    1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32,
    7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64,
}


def _fold_cast(c, node):
  to = _attrs(node)["to"]
  if to not in _ONNX_TO_NP:
    raise _Problem("Cast to type %d" % to)
  return [_in_consts(c, node)[0].astype(_ONNX_TO_NP[to])]


def _fold_gather(c, node):
  x, idx = _in_consts(c, node)[:2]
  return [np.take(x, idx, axis=_attrs(node).get("axis", 0))]


def _fold_concat(c, node):
  arrs = [x for x in _in_consts(c, node) if x is not None]
  return [np.concatenate(arrs, axis=_attrs(node)["axis"])]


def _fold_constant_of_shape(c, node):
  shape = _in_consts(c, node)[0]
  a = _attrs(node)
  value = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(
      [1], np.float32)
  return [np.full([int(s) for s in shape], value.ravel()[0], value.dtype)]


def _fold_flatten(c, node):
  x = _in_consts(c, node)[0]
  axis = _attrs(node).get("axis", 1) % max(x.ndim, 1)
  return [x.reshape(int(np.prod(x.shape[:axis])), -1)]


def _fold_transpose(c, node):
  x = _in_consts(c, node)[0]
  perm = _attrs(node).get("perm")
  return [np.transpose(x, perm)]


def _fold_unary(fn):
  return lambda c, node: [np.asarray(fn(_in_consts(c, node)[0]))]


def _fold_range(c, node):
  s, l, d = _in_consts(c, node)[:3]
  return [np.arange(s, l, d).astype(np.asarray(s).dtype)]


def _fold_where(c, node):
  cond, a, b = _in_consts(c, node)[:3]
  return [np.where(cond, a, b)]


def _fold_expand(c, node):
  x, shape = _in_consts(c, node)[:2]
  return [x * np.ones([int(s) for s in shape], dtype=x.dtype)]


def _fold_reduce_prod(c, node):
  x = _in_consts(c, node)[0]
  a = _attrs(node)
  axes = a.get("axes")
  keep = a.get("keepdims", 1)
  return [np.prod(x, axis=None if axes is None else tuple(axes),
                  keepdims=bool(keep)).astype(x.dtype)]


def _fold_identity(c, node):
  return [_in_consts(c, node)[0]]


def _fold_sum(c, node):
  arrs = _in_consts(c, node)
  out = arrs[0]
  for a in arrs[1:]:
    out = out + a
  return [out]


FOLDERS = {
    "Constant": _fold_constant,
    "Shape": None,  # handled in convert_node (needs only the input's shape)
    "Gather": _fold_gather,
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Concat": _fold_concat,
    "Cast": _fold_cast,
    "ConstantOfShape": _fold_constant_of_shape,
    "Reshape": _fold_reshape,
    "Flatten": _fold_flatten,
    "Slice": _fold_slice,
    "Transpose": _fold_transpose,
    "Add": _fold_binary(np.add),
    "Sub": _fold_binary(np.subtract),
    "Mul": _fold_binary(np.multiply),
    "Div": _fold_binary(_int_div),
    "Sum": _fold_sum,
    "Equal": _fold_binary(np.equal),
    "Less": _fold_binary(np.less),
    "Greater": _fold_binary(np.greater),
    "Min": _fold_binary(np.minimum),
    "Max": _fold_binary(np.maximum),
    "Pow": _fold_binary(np.power),
    "Where": _fold_where,
    "Not": _fold_unary(np.logical_not),
    "Neg": _fold_unary(np.negative),
    "Floor": _fold_unary(np.floor),
    "Ceil": _fold_unary(np.ceil),
    "Sqrt": _fold_unary(np.sqrt),
    "Abs": _fold_unary(np.abs),
    "Range": _fold_range,
    "Expand": _fold_expand,
    "ReduceProd": _fold_reduce_prod,
    "Identity": _fold_identity,
    "Dropout": _fold_identity,
    "Relu": _fold_unary(lambda x: np.maximum(x, 0)),
    "Sigmoid": _fold_unary(lambda x: 1 / (1 + np.exp(-x))),
}


def _fold_shape(c, node):
  x = _in_consts(c, node)[0]
  a = _attrs(node)
  return [np.array(x.shape, dtype=np.int64)[a.get("start", 0):a.get("end")]]


FOLDERS["Shape"] = _fold_shape


# ---------------------------------------------------------------------------
# Operators that produce .srn operators.


def _conv(c, node):
  x = c.get(node, 0)
  w = c.const_input(node, 1, "Conv weights")
  b = c.const_input(node, 2, "Conv bias", optional=True)
  if x.kind not in ("act", "hardsigmoid"):
    raise _Problem("Conv input is not an activation")
  xt = c.act(x)
  if w.ndim != 4 or len(x.shape) != 4:
    raise _Problem("only 2-D convolutions (rank-4 NCHW) are supported")
  a = _attrs(node)
  n, cin, h, wid = x.shape
  o, ipg, kh, kw = w.shape
  group = a.get("group", 1)
  if ipg * group != cin or o % group:
    raise _Problem("weights %s do not fit input %s with group %d" %
                   (list(w.shape), x.shape, group))
  strides = list(a.get("strides", [1, 1]))
  dil = list(a.get("dilations", [1, 1]))
  auto_pad = a.get("auto_pad", b"NOTSET")
  auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
  if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
    pt, pb = _same_pads(h, kh, strides[0], dil[0], auto_pad)
    pl, pr = _same_pads(wid, kw, strides[1], dil[1], auto_pad)
  elif auto_pad == "VALID":
    pt = pb = pl = pr = 0
  else:
    pads = list(a.get("pads", [0, 0, 0, 0]))
    pt, pl, pb, pr = pads
  oh = (h + pt + pb - ((kh - 1) * dil[0] + 1)) // strides[0] + 1
  ow = (wid + pl + pr - ((kw - 1) * dil[1] + 1)) // strides[1] + 1
  if oh <= 0 or ow <= 0:
    raise _Problem("empty output")
  weights = np.ascontiguousarray(w.astype(np.float32).transpose(0, 2, 3, 1))
  wt = c.const_tensor(node.name + "/weights", weights)
  bt = -1
  if b is not None:
    bt = c.const_tensor(node.name + "/bias", b.astype(np.float32).ravel())
  out = c.act_for(node.output[0], [n, o, oh, ow])
  c.emit("CONV_2D", node.name, [xt, wt, bt], [out.tensor], {
      "stride_h": strides[0], "stride_w": strides[1],
      "dilation_h": dil[0], "dilation_w": dil[1],
      "pad_top": pt, "pad_bottom": pb, "pad_left": pl, "pad_right": pr,
      "groups": group, "activation": "NONE"})
  c.set_out(node, 0, out)


def _batchnorm(c, node):
  x = c.get(node, 0)
  scale, bias, mean, var = [c.const_input(node, i, "BatchNormalization "
                                          "parameters") for i in range(1, 5)]
  eps = _attrs(node).get("epsilon", 1e-5)
  mult = (scale / np.sqrt(var + eps)).astype(np.float64)
  add = (bias - mean * mult).astype(np.float64)
  if len(node.output) > 1 and any(node.output[1:]):
    if any(c.static_uses.get(o, 0) for o in node.output[1:] if o):
      raise _Problem("training-mode BatchNormalization (running statistics "
                     "are read)")
  conv = c.sole_use_of_producer(x, ("CONV_2D",))
  if conv is not None and conv.option("activation") == "NONE":
    wt = c.out.tensors[conv.inputs[1]]
    wt.data = (wt.data * mult.reshape(-1, 1, 1, 1)).astype(np.float32)
    if conv.inputs[2] >= 0:
      bt = c.out.tensors[conv.inputs[2]]
      bt.data = (bt.data * mult + add).astype(np.float32)
    else:
      conv.inputs[2] = c.const_tensor(conv.name + "/bias", add)
    c.rename(x.tensor, node.output[0])
    c.set_out(node, 0, Val("act", tensor=x.tensor, shape=x.shape,
                           layout=x.layout, chw=x.chw))
    return
  # Standalone: per-channel multiply and add.
  xt = c.act(x)
  rank4 = x.layout == "nhwc"
  if len(x.shape) < 2:
    raise _Problem("BatchNormalization of a rank-%d tensor" % len(x.shape))
  chan_shape = [1, x.shape[1]] + [1] * (len(x.shape) - 2)
  m = _const_to_nhwc(mult.reshape(chan_shape), rank4)
  a = _const_to_nhwc(add.reshape(chan_shape), rank4)
  if x.layout == "flat_hwc":
    raise _Problem("BatchNormalization of a flattened feature map")
  mid = c.act_for(node.output[0] + "/scaled", x.shape, x.layout)
  c.emit("MUL", node.name + "/mul", [xt, c.const_tensor(node.name + "/scale",
                                                        m)], [mid.tensor])
  out = c.act_for(node.output[0], x.shape, x.layout)
  c.emit("ADD", node.name, [mid.tensor, c.const_tensor(node.name + "/shift",
                                                       a)], [out.tensor])
  c.set_out(node, 0, out)


def _fuse_activation(c, node, x, activation):
  """Fuses RELU/RELU6 into the producer of x if it can. Returns True if so."""
  prod = c.sole_use_of_producer(x, ("CONV_2D", "FULLY_CONNECTED", "ADD",
                                    "MUL"))
  if prod is None or prod.option("activation") != "NONE":
    return False
  prod.options["activation"] = activation
  c.rename(x.tensor, node.output[0])
  c.set_out(node, 0, Val("act", tensor=x.tensor, shape=x.shape,
                         layout=x.layout, chw=x.chw))
  return True


def _unary(opcode):
  def handler(c, node):
    x = c.get(node, 0)
    xt = c.act(x)
    if opcode == "RELU" and _fuse_activation(c, node, x, "RELU"):
      return
    out = c.act_for(node.output[0], x.shape, x.layout, x.chw)
    c.emit(opcode, node.name, [xt], [out.tensor])
    c.set_out(node, 0, out)
  return handler


def _clip(c, node):
  x = c.get(node, 0)
  a = _attrs(node)
  lo = a.get("min", -np.inf)
  hi = a.get("max", np.inf)
  v = c.const_input(node, 1, "Clip min", optional=True)
  if v is not None:
    lo = float(np.asarray(v).ravel()[0])
  v = c.const_input(node, 2, "Clip max", optional=True)
  if v is not None:
    hi = float(np.asarray(v).ravel()[0])
  xt = c.act(x)
  if lo == 0 and hi == 6 and _fuse_activation(c, node, x, "RELU6"):
    return
  if lo == 0 and hi == np.inf:
    if _fuse_activation(c, node, x, "RELU"):
      return
    out = c.act_for(node.output[0], x.shape, x.layout, x.chw)
    c.emit("RELU", node.name, [xt], [out.tensor])
    c.set_out(node, 0, out)
    return
  f32max = float(np.finfo(np.float32).max)
  out = c.act_for(node.output[0], x.shape, x.layout, x.chw)
  c.emit("CLAMP", node.name, [xt], [out.tensor],
         {"min": max(lo, -f32max), "max": min(hi, f32max)})
  c.set_out(node, 0, out)


def _hardsigmoid(c, node):
  x = c.get(node, 0)
  c.act(x)
  a = _attrs(node)
  c.set_out(node, 0, Val("hardsigmoid", src=x, alpha=a.get("alpha", 0.2),
                         beta=a.get("beta", 0.5), node=node.output[0]))


def _hardswish(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  out = c.act_for(node.output[0], x.shape, x.layout, x.chw)
  c.emit("HARD_SWISH", node.name, [xt], [out.tensor])
  c.set_out(node, 0, out)


def _binary_operands(c, node, x, y):
  """Returns (.srn inputs, output Val template) for an elementwise op on ONNX
  values x and y (at least one an activation)."""
  if x.kind == "const" and y.kind == "const":
    raise _Problem("both operands are constants")
  acts = [v for v in (x, y) if v.kind != "const"]
  for v in acts:
    c.act(v)
  if any(v.layout == "flat_hwc" for v in acts) and not all(
      v.layout == "flat_hwc" for v in acts):
    raise _Problem("elementwise op on a flattened feature map")
  if len(acts) == 2:
    a, b = acts
    if len(a.shape) != len(b.shape):
      raise _Problem("operands of rank %d and %d" % (len(a.shape),
                                                     len(b.shape)))
    try:
      shape = list(np.broadcast_shapes(tuple(a.shape), tuple(b.shape)))
    except ValueError:
      raise _Problem("shapes %s and %s do not broadcast" % (a.shape, b.shape))
    return [x.tensor, y.tensor], shape, a.layout, a.chw
  a = acts[0]
  const = x.array if x.kind == "const" else y.array
  try:
    shape = list(np.broadcast_shapes(tuple(a.shape), tuple(np.shape(const))))
  except ValueError:
    raise _Problem("shapes %s and %s do not broadcast" % (a.shape,
                                                         list(np.shape(const))))
  if shape != a.shape:
    raise _Problem("a constant operand %s widens the activation %s" %
                   (list(np.shape(const)), a.shape))
  if a.layout == "flat_hwc" and np.size(const) != 1:
    raise _Problem("elementwise op with a non-scalar constant on a flattened "
                   "feature map")
  ct = c.const_tensor(node.name + "/" + (node.input[1] if x.kind != "const"
                                         else node.input[0]),
                      _const_to_nhwc(const, a.layout == "nhwc"))
  inputs = [a.tensor, ct] if x.kind != "const" else [ct, a.tensor]
  return inputs, shape, a.layout, a.chw


def _add(c, node):
  x, y = c.get(node, 0), c.get(node, 1)
  # MatMul + Add(bias) -> FullyConnected with bias.
  for act, other in ((x, y), (y, x)):
    fc = c.sole_use_of_producer(act, ("FULLY_CONNECTED",))
    if (fc is not None and other.kind == "const" and fc.inputs[2] < 0 and
        fc.option("activation") == "NONE"):
      o = act.shape[-1]
      bias = np.asarray(other.array, dtype=np.float32)
      if bias.size in (1, o) and (bias.ndim <= 1 or
                                  list(bias.shape) in ([1, o], [o])):
        fc.inputs[2] = c.const_tensor(fc.name + "/bias",
                                      np.broadcast_to(bias.ravel(), [o]))
        c.rename(act.tensor, node.output[0])
        c.set_out(node, 0, Val("act", tensor=act.tensor, shape=act.shape,
                               layout=act.layout))
        return
  inputs, shape, layout, chw = _binary_operands(c, node, x, y)
  out = c.act_for(node.output[0], shape, layout, chw)
  c.emit("ADD", node.name, inputs, [out.tensor], {"activation": "NONE"})
  c.set_out(node, 0, out)


def _sub(c, node):
  x, y = c.get(node, 0), c.get(node, 1)
  if y.kind == "const":
    neg = Val("const", array=-np.asarray(y.array, dtype=np.float32))
    inputs, shape, layout, chw = _binary_operands(c, node, x, neg)
    out = c.act_for(node.output[0], shape, layout, chw)
    c.emit("ADD", node.name, inputs, [out.tensor])
    c.set_out(node, 0, out)
    return
  # x - y = x + (-1 * y)
  yt = c.act(y)
  negy = c.act_for(node.output[0] + "/neg", y.shape, y.layout, y.chw)
  c.emit("MUL", node.name + "/neg", [yt, c.const_tensor(
      node.name + "/minus_one", np.array([-1.0]))], [negy.tensor])
  inputs, shape, layout, chw = _binary_operands(c, node, x, negy)
  out = c.act_for(node.output[0], shape, layout, chw)
  c.emit("ADD", node.name, inputs, [out.tensor])
  c.set_out(node, 0, out)


def _mul(c, node):
  x, y = c.get(node, 0), c.get(node, 1)
  # x * HardSigmoid(x) with alpha 1/6, beta 1/2 is HardSwish.
  for hs, other in ((y, x), (x, y)):
    if (hs.kind == "hardsigmoid" and hs.src is other and hs.uses == 1 and
        abs(hs.alpha - 1.0 / 6) < 1e-6 and abs(hs.beta - 0.5) < 1e-6):
      xt = c.act(other)
      out = c.act_for(node.output[0], other.shape, other.layout, other.chw)
      c.emit("HARD_SWISH", node.name, [xt], [out.tensor])
      c.set_out(node, 0, out)
      return
  inputs, shape, layout, chw = _binary_operands(c, node, x, y)
  out = c.act_for(node.output[0], shape, layout, chw)
  c.emit("MUL", node.name, inputs, [out.tensor], {"activation": "NONE"})
  c.set_out(node, 0, out)


def _div(c, node):
  x, y = c.get(node, 0), c.get(node, 1)
  if y.kind != "const":
    raise _Problem("division by an activation")
  inv = Val("const", array=1.0 / np.asarray(y.array, dtype=np.float64))
  inputs, shape, layout, chw = _binary_operands(c, node, x, inv)
  out = c.act_for(node.output[0], shape, layout, chw)
  c.emit("MUL", node.name, inputs, [out.tensor])
  c.set_out(node, 0, out)


def _sum(c, node, mean=False):
  vals = [c.get(node, i) for i in range(len(node.input))]
  if any(v.kind == "const" for v in vals):
    raise _Problem("%s with a constant operand" % node.op_type)
  for v in vals:
    c.act(v)
  shape = vals[0].shape
  if any(v.shape != shape or v.layout != vals[0].layout for v in vals):
    raise _Problem("%s operands of different shapes" % node.op_type)
  if len(vals) == 1:
    total = vals[0]
  else:
    total = c.act_for(node.output[0] + ("/sum" if mean else ""), shape,
                      vals[0].layout, vals[0].chw)
    c.emit("ADD", node.name + ("/sum" if mean else ""),
           [v.tensor for v in vals], [total.tensor])
  if not mean:
    if len(vals) == 1:
      raise _Problem("Sum of one input")
    c.set_out(node, 0, total)
    return
  out = c.act_for(node.output[0], shape, vals[0].layout, vals[0].chw)
  c.emit("MUL", node.name, [total.tensor, c.const_tensor(
      node.name + "/scale", np.array([1.0 / len(vals)]))], [out.tensor])
  c.set_out(node, 0, out)


def _concat(c, node):
  vals = [c.get(node, i) for i in range(len(node.input))]
  if any(v.kind == "const" for v in vals):
    raise _Problem("Concat of an activation with a constant")
  for v in vals:
    c.act(v)
  rank = len(vals[0].shape)
  axis = _attrs(node)["axis"] % rank
  layouts = {v.layout for v in vals}
  if len(layouts) != 1 or "flat_hwc" in layouts:
    raise _Problem("Concat of tensors with different layouts")
  shape = list(vals[0].shape)
  for v in vals[1:]:
    if len(v.shape) != rank or any(
        v.shape[k] != shape[k] for k in range(rank) if k != axis):
      raise _Problem("Concat operands %s do not match" % [v.shape for v in vals])
    shape[axis] += v.shape[axis]
  layout = vals[0].layout
  stored_axis = _NCHW_TO_NHWC_AXIS[axis] if layout == "nhwc" else axis
  out = c.act_for(node.output[0], shape, layout)
  c.emit("CONCAT", node.name, [v.tensor for v in vals], [out.tensor],
         {"axis": stored_axis})
  c.set_out(node, 0, out)


def _pool(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  if len(x.shape) != 4:
    raise _Problem("only 2-D pooling is supported")
  a = _attrs(node)
  n, ch, h, w = x.shape
  is_avg = node.op_type == "AveragePool"
  if node.op_type == "GlobalMaxPool":
    kh, kw, strides, pads, ceil = h, w, [1, 1], [0, 0, 0, 0], 0
  else:
    kh, kw = a["kernel_shape"]
    strides = list(a.get("strides", [1, 1]))
    pads = list(a.get("pads", [0, 0, 0, 0]))
    ceil = a.get("ceil_mode", 0)
    if any(d != 1 for d in a.get("dilations", [1, 1])):
      raise _Problem("dilated pooling")
    if len(node.output) > 1 and node.output[1]:
      raise _Problem("MaxPool indices output")
  auto_pad = a.get("auto_pad", b"NOTSET")
  auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
  if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
    pt, pb = _same_pads(h, kh, strides[0], 1, auto_pad)
    pl, pr = _same_pads(w, kw, strides[1], 1, auto_pad)
  elif auto_pad == "VALID":
    pt = pb = pl = pr = 0
  else:
    pt, pl, pb, pr = pads
  def out_size(size, k, s, p0, p1):
    span = size + p0 + p1 - k
    if ceil:
      o = -(-span // s) + 1
      if (o - 1) * s >= size + p0:  # the last window must start inside
        o -= 1
    else:
      o = span // s + 1
    return o
  oh = out_size(h, kh, strides[0], pt, pb)
  ow = out_size(w, kw, strides[1], pl, pr)
  extra_b = max((oh - 1) * strides[0] + kh - (h + pt + pb), 0)
  extra_r = max((ow - 1) * strides[1] + kw - (w + pl + pr), 0)
  include = bool(a.get("count_include_pad", 0)) if is_avg else False
  if is_avg and include and (extra_b or extra_r):
    raise _Problem("AveragePool with ceil_mode and count_include_pad")
  if oh <= 0 or ow <= 0:
    raise _Problem("empty output")
  out = c.act_for(node.output[0], [n, ch, oh, ow])
  opts = {"filter_h": kh, "filter_w": kw, "stride_h": strides[0],
          "stride_w": strides[1], "pad_top": pt, "pad_bottom": pb + extra_b,
          "pad_left": pl, "pad_right": pr + extra_r}
  if is_avg:
    opts["count_include_pad"] = include
  c.emit("AVERAGE_POOL_2D" if is_avg else "MAX_POOL_2D", node.name, [xt],
         [out.tensor], opts)
  c.set_out(node, 0, out)


def _global_avg(c, node, keepdims=True):
  x = c.get(node, 0)
  xt = c.act(x)
  if len(x.shape) != 4:
    raise _Problem("GlobalAveragePool of a rank-%d tensor" % len(x.shape))
  n, ch = x.shape[:2]
  out_name = node.output[0] if keepdims else node.output[0] + "/pooled"
  out = c.act_for(out_name, [n, ch, 1, 1])
  c.emit("GLOBAL_AVERAGE_POOL", node.name if keepdims else node.name + "/pool",
         [xt], [out.tensor])
  if keepdims:
    c.set_out(node, 0, out)
    return
  flat = c.act_for(node.output[0], [n, ch])
  c.emit("RESHAPE", node.name, [out.tensor], [flat.tensor],
         {"new_shape": [n, ch]})
  c.set_out(node, 0, flat)


def _reduce_mean(c, node):
  x = c.get(node, 0)
  a = _attrs(node)
  axes = a.get("axes")
  if axes is None and len(node.input) > 1:
    axes = [int(v) for v in c.const_input(node, 1, "ReduceMean axes")]
  if axes is None or len(x.shape) != 4 or sorted(
      ax % 4 for ax in axes) != [2, 3]:
    raise _Problem("ReduceMean is supported over the spatial axes (2, 3) of "
                   "an NCHW tensor only")
  _global_avg(c, node, keepdims=bool(a.get("keepdims", 1)))


def _reshape_to(c, node, x, target):
  """Emits a reshape of activation x to ONNX shape `target`."""
  xt = c.act(x)
  target = [int(t) for t in target]
  name = node.output[0]
  if target == x.shape:
    x.uses += c.static_uses.get(name, 0) - 1
    c.vals[name] = x
    return
  if x.layout == "flat_hwc":
    cc, hh, ww = x.chw
    if target == [x.shape[0], cc, hh, ww]:
      out = c.act_for(name, target, "nhwc")
      c.emit("RESHAPE", node.name, [xt], [out.tensor],
             {"new_shape": c.out.tensors[out.tensor].shape})
      c.set_out(node, 0, out)
      return
    raise _Problem("reshape of a flattened feature map to %s" % target)
  if _plain_equivalent(x):
    if len(target) == 4:
      n, cc, hh, ww = target
      if not (hh * ww == 1 or cc == 1):
        raise _Problem("reshape to an NCHW feature map %s from a tensor of "
                       "another shape %s (needs a transpose)" % (target,
                                                                 x.shape))
      out = c.act_for(name, target, "nhwc")
    else:
      out = c.act_for(name, target, "plain")
  elif x.layout == "nhwc" and len(target) == 2 and target[0] == x.shape[0]:
    n, cc, hh, ww = x.shape
    out = c.act_for(name, target, "flat_hwc", chw=(cc, hh, ww))
  else:
    raise _Problem("reshape of an NCHW feature map %s to %s (needs a "
                   "transpose)" % (x.shape, target))
  c.emit("RESHAPE", node.name, [xt], [out.tensor],
         {"new_shape": c.out.tensors[out.tensor].shape})
  c.set_out(node, 0, out)


def _reshape(c, node):
  x = c.get(node, 0)
  shape = c.const_input(node, 1, "Reshape shape")
  xs = x.shape if x.kind == "act" else x.src.shape
  _reshape_to(c, node, x, _reshape_target(xs, shape,
                                          _attrs(node).get("allowzero", 0)))


def _flatten(c, node):
  x = c.get(node, 0)
  xs = x.shape if x.kind == "act" else x.src.shape
  axis = _attrs(node).get("axis", 1) % max(len(xs), 1)
  _reshape_to(c, node, x, [int(np.prod(xs[:axis])), int(np.prod(xs[axis:]))])


def _squeeze_like(c, node):
  x = c.get(node, 0)
  xs = x.shape if x.kind == "act" else x.src.shape
  axes = _axes_of(c, node, 1)
  if node.op_type == "Squeeze":
    if axes is None:
      target = [d for d in xs if d != 1]
    else:
      drop = {a % len(xs) for a in axes}
      target = [d for k, d in enumerate(xs) if k not in drop]
  else:
    rank = len(xs) + len(axes)
    target = list(xs)
    for ax in sorted(a % rank for a in axes):
      target.insert(ax, 1)
  _reshape_to(c, node, x, target)


def _gemm_like(c, node, w_oi, bias):
  x = c.get(node, 0)
  xt = c.act(x)
  if len(x.shape) != 2:
    raise _Problem("%s on a rank-%d input (only [N, K] is supported)" %
                   (node.op_type, len(x.shape)))
  o, k = w_oi.shape
  if k != x.shape[1]:
    raise _Problem("weights %s do not fit input %s" % (list(w_oi.shape),
                                                       x.shape))
  if x.layout == "flat_hwc":
    cc, hh, ww = x.chw
    w_oi = w_oi.reshape(o, cc, hh, ww).transpose(0, 2, 3, 1).reshape(o, k)
  wt = c.const_tensor(node.name + "/weights", w_oi)
  bt = -1
  if bias is not None:
    bt = c.const_tensor(node.name + "/bias", bias)
  out = c.act_for(node.output[0], [x.shape[0], o])
  c.emit("FULLY_CONNECTED", node.name, [xt, wt, bt], [out.tensor],
         {"activation": "NONE"})
  c.set_out(node, 0, out)


def _gemm(c, node):
  a = _attrs(node)
  if a.get("transA", 0):
    raise _Problem("Gemm with transA")
  b = c.const_input(node, 1, "Gemm B")
  if b.ndim != 2:
    raise _Problem("Gemm B of rank %d" % b.ndim)
  w = (b if a.get("transB", 0) else b.T).astype(np.float64) * a.get(
      "alpha", 1.0)
  cc = c.const_input(node, 2, "Gemm C", optional=True)
  bias = None
  if cc is not None:
    o = w.shape[0]
    cc = np.asarray(cc, dtype=np.float64)
    if cc.size not in (1, o) or (cc.ndim == 2 and cc.shape[0] != 1):
      raise _Problem("Gemm C of shape %s (only a bias per output)" %
                     list(cc.shape))
    bias = np.broadcast_to(cc.ravel(), [o]) * a.get("beta", 1.0)
  _gemm_like(c, node, w, bias)


def _matmul(c, node):
  b = c.const_input(node, 1, "MatMul B")
  if b.ndim != 2:
    raise _Problem("MatMul B of rank %d" % b.ndim)
  _gemm_like(c, node, b.T, None)


def _softmax(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  rank = len(x.shape)
  if x.layout == "flat_hwc":
    raise _Problem("Softmax of a flattened feature map")
  if c.opset < 13:
    # Softmax over the flattened axes [axis:]: one real axis at most.
    first = _attrs(node).get("axis", 1) % rank
    real = [k for k in range(first, rank) if x.shape[k] != 1]
    if len(real) > 1:
      raise _Problem("Softmax (opset < 13) over more than one axis")
    axis = real[0] if real else rank - 1
  else:
    axis = _attrs(node).get("axis", -1) % rank
  order = [0, 2, 3, 1] if x.layout == "nhwc" else list(range(rank))
  stored = order.index(axis)
  if any(x.shape[order[k]] != 1 for k in range(stored + 1, rank)):
    raise _Problem("Softmax over axis %d (only the last axis in the stored "
                   "layout is supported)" % axis)
  out = c.act_for(node.output[0], x.shape, x.layout, x.chw)
  c.emit("SOFTMAX", node.name, [xt], [out.tensor], {"axis": -1})
  c.set_out(node, 0, out)


def _pad(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  a = _attrs(node)
  mode = a.get("mode", b"constant")
  mode = mode.decode() if isinstance(mode, bytes) else mode
  if mode != "constant":
    raise _Problem("Pad mode '%s' (only constant)" % mode)
  pads = c.const_input(node, 1, "Pad pads")
  value = c.const_input(node, 2, "Pad value", optional=True)
  value = 0.0 if value is None or np.size(value) == 0 else float(
      np.asarray(value).ravel()[0])
  rank = len(x.shape)
  pads = [int(p) for p in np.asarray(pads).ravel()]
  if len(pads) != 2 * rank:
    raise _Problem("Pad with %d pads for rank %d" % (len(pads), rank))
  if any(p < 0 for p in pads):
    raise _Problem("negative pads")
  if x.layout == "flat_hwc":
    raise _Problem("Pad of a flattened feature map")
  before, after = pads[:rank], pads[rank:]
  shape = [d + b + e for d, b, e in zip(x.shape, before, after)]
  order = [0, 2, 3, 1] if x.layout == "nhwc" else list(range(rank))
  paddings = []
  for k in order:
    paddings += [before[k], after[k]]
  out = c.act_for(node.output[0], shape, x.layout)
  c.emit("PAD", node.name, [xt], [out.tensor],
         {"paddings": paddings, "value": value})
  c.set_out(node, 0, out)


def _slice(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  starts = c.const_input(node, 1, "Slice starts")
  ends = c.const_input(node, 2, "Slice ends")
  axes = c.const_input(node, 3, "Slice axes", optional=True)
  steps = c.const_input(node, 4, "Slice steps", optional=True)
  if x.layout == "flat_hwc":
    raise _Problem("Slice of a flattened feature map")
  begin, end, step = _slice_params(list(x.shape), starts, ends, axes, steps)
  if any(s != 1 for s in step):
    raise _Problem("Slice with steps other than 1")
  size = [max(e - b, 0) for b, e in zip(begin, end)]
  if any(s == 0 for s in size):
    raise _Problem("Slice with an empty result")
  order = [0, 2, 3, 1] if x.layout == "nhwc" else list(range(len(x.shape)))
  out = c.act_for(node.output[0], size, x.layout)
  c.emit("SLICE", node.name, [xt], [out.tensor],
         {"begin": [begin[k] for k in order], "size": [size[k] for k in order]})
  c.set_out(node, 0, out)


def _resize(c, node):
  x = c.get(node, 0)
  xt = c.act(x)
  a = _attrs(node)
  def s(key, default):
    v = a.get(key, default)
    return v.decode() if isinstance(v, bytes) else v
  mode = s("mode", "nearest")
  if mode != "linear":
    raise _Problem("Resize mode '%s' (only linear, i.e. bilinear)" % mode)
  if len(x.shape) != 4:
    raise _Problem("Resize of a rank-%d tensor" % len(x.shape))
  ctm = s("coordinate_transformation_mode", "half_pixel")
  scales = c.const_input(node, 2, "Resize scales", optional=True)
  sizes = c.const_input(node, 3, "Resize sizes", optional=True)
  n, ch, h, w = x.shape
  if sizes is not None and np.size(sizes) > 0:
    sizes = [int(v) for v in sizes]
    if sizes[:2] != [n, ch]:
      raise _Problem("Resize of the batch or channel axis")
    oh, ow = sizes[2:]
    sh, sw = oh / h, ow / w
  elif scales is not None and np.size(scales) > 0:
    scales = [float(v) for v in scales]
    if scales[:2] != [1.0, 1.0]:
      raise _Problem("Resize of the batch or channel axis")
    sh, sw = scales[2:]
    oh, ow = int(np.floor(h * sh)), int(np.floor(w * sw))
    if oh != h * sh or ow != w * sw:
      raise _Problem("Resize scales that do not give whole sizes")
  else:
    raise _Problem("Resize without scales or sizes")
  if ctm in ("half_pixel", "pytorch_half_pixel"):
    if ctm == "pytorch_half_pixel" and (oh == 1 or ow == 1):
      raise _Problem("pytorch_half_pixel Resize to size 1")
    opts = {"align_corners": False, "half_pixel_centers": True}
  elif ctm == "align_corners":
    opts = {"align_corners": True, "half_pixel_centers": False}
  elif ctm == "asymmetric":
    opts = {"align_corners": False, "half_pixel_centers": False}
  else:
    raise _Problem("Resize coordinate_transformation_mode '%s'" % ctm)
  out = c.act_for(node.output[0], [n, ch, oh, ow])
  c.emit("RESIZE_BILINEAR", node.name, [xt], [out.tensor], opts)
  c.set_out(node, 0, out)


def _identity(c, node):
  x = c.get(node, 0)
  if node.op_type == "Dropout":
    if len(node.output) > 1 and node.output[1] and c.static_uses.get(
        node.output[1], 0):
      raise _Problem("Dropout mask output is used")
  x.uses += c.static_uses.get(node.output[0], 0) - 1
  c.vals[node.output[0]] = x


HANDLERS = {
    "Conv": _conv,
    "BatchNormalization": _batchnorm,
    "Relu": _unary("RELU"),
    "Sigmoid": _unary("SIGMOID"),
    "Clip": _clip,
    "HardSigmoid": _hardsigmoid,
    "HardSwish": _hardswish,
    "Add": _add,
    "Sub": _sub,
    "Mul": _mul,
    "Div": _div,
    "Sum": _sum,
    "Mean": lambda c, node: _sum(c, node, mean=True),
    "Concat": _concat,
    "MaxPool": _pool,
    "AveragePool": _pool,
    "GlobalMaxPool": _pool,
    "GlobalAveragePool": _global_avg,
    "ReduceMean": _reduce_mean,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze_like,
    "Unsqueeze": _squeeze_like,
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Softmax": _softmax,
    "Pad": _pad,
    "Slice": _slice,
    "Resize": _resize,
    "Identity": _identity,
    "Dropout": _identity,
}


def load_onnx(path):
  """Loads and checks an ONNX file; ConversionError if it is malformed."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise ConversionError("cannot read %s: %s" % (path, e.strerror or e))
  model = parse_onnx(data, path, check=False)
  if any(t.data_location == onnx.TensorProto.EXTERNAL
         for t in model.graph.initializer):
    import os
    from onnx import external_data_helper
    try:
      external_data_helper.load_external_data_for_model(
          model, os.path.dirname(os.path.abspath(path)))
    except Exception as e:  # noqa: BLE001 - missing files, bad offsets
      raise ConversionError("cannot load the external weights of %s: %s" %
                            (path, e))
  _check(model, path)
  return model


def parse_onnx(data, source="<bytes>", check=True):
  if not data:
    raise ConversionError("malformed ONNX file %s: it is empty" % source)
  try:
    model = onnx.ModelProto()
    with warnings.catch_warnings():
      warnings.simplefilter("ignore")  # protobuf warns on some garbage
      model.ParseFromString(data)
  except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError & co
    raise ConversionError("malformed ONNX file %s: not a valid ONNX protobuf "
                          "(%s)" % (source, str(e).splitlines()[0] if str(e)
                                    else type(e).__name__))
  if not model.HasField("graph") or model.ir_version == 0:
    raise ConversionError("malformed ONNX file %s: no graph or IR version "
                          "(not an ONNX model?)" % source)
  if check:
    _check(model, source)
  return model


def _check(model, source):
  try:
    onnx.checker.check_model(model)
  except Exception as e:  # noqa: BLE001 - onnx raises ValidationError & co
    msg = " ".join(str(e).split())
    raise ConversionError("malformed ONNX file %s: %s" % (source, msg[:400]))


def convert(model, name=None):
  """ONNX ModelProto -> srn.Model. Raises ConversionError."""
  return Converter(model, name).run()
