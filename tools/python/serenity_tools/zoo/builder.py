"""A small ONNX graph builder for the zoo: NCHW, seeded weights, shapes
tracked in Python so model definitions can make shape-dependent choices the
way the reference implementations do (NASNet's factorized reductions).

BatchNorm is folded at build time (DESIGN.md §4): a "conv" here is the folded
Conv+BN, i.e. a Conv with a bias. Nodes are appended in the order the model
definition calls the builder, which is the order a framework would emit them.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def tf_same_pads(size, kernel, stride, dilation=1):
  """TensorFlow 'SAME' padding (before, after): the extra pixel goes after."""
  eff = (kernel - 1) * dilation + 1
  out = -(-size // stride)
  total = max((out - 1) * stride + eff - size, 0)
  return total // 2, total - total // 2


class Builder:

  def __init__(self, name, seed):
    self.name = name
    self.rng = np.random.default_rng(seed)
    self.nodes = []
    self.inits = []
    self.shapes = {}
    self.inputs = []
    self.outputs = []
    self._used = set()
    self._consts = {}

  # ---- names, constants ------------------------------------------------

  def unique(self, name):
    candidate, i = name, 1
    while candidate in self._used:
      i += 1
      candidate = "%s_%d" % (name, i)
    self._used.add(candidate)
    return candidate

  def const(self, name, array):
    name = self.unique(name)
    self.inits.append(numpy_helper.from_array(np.asarray(array), name))
    return name

  def shared_const(self, key, array):
    """One initializer per distinct small constant (axes, clip bounds)."""
    if key not in self._consts:
      self._consts[key] = self.const("const/" + key, array)
    return self._consts[key]

  def node(self, op, inputs, name, shape, **attrs):
    out = self.unique(name)
    self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
    self.shapes[out] = list(shape)
    return out

  def shape(self, x):
    return self.shapes[x]

  def channels(self, x):
    return self.shapes[x][1]

  # ---- graph boundary --------------------------------------------------

  def input(self, name, shape):
    self._used.add(name)
    self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                                     shape))
    self.shapes[name] = list(shape)
    return name

  def output(self, x):
    self.outputs.append(helper.make_tensor_value_info(x, TensorProto.FLOAT,
                                                      self.shapes[x]))

  def model(self, doc=""):
    graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                              self.inits)
    model = helper.make_model(graph, producer_name="serenity_zoo",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model

  # ---- layers ----------------------------------------------------------

  def weights(self, shape, fan_in):
    w = self.rng.standard_normal(shape, dtype=np.float32)
    return w * np.float32(np.sqrt(1.0 / fan_in))

  def conv(self, x, cout, kernel, stride=1, pads=None, dilation=1, groups=1,
           name="conv", same=False, bias=True):
    """pads: int, (top, left, bottom, right), or None with same=True for
    TensorFlow SAME padding, or None for 'half the kernel' (PyTorch style)."""
    n, cin, h, w = self.shapes[x]
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    if same:
      pt, pb = tf_same_pads(h, kh, sh, dilation)
      pl, pr = tf_same_pads(w, kw, sw, dilation)
    elif pads is None:
      pt = pb = dilation * (kh - 1) // 2
      pl = pr = dilation * (kw - 1) // 2
    elif isinstance(pads, int):
      pt = pb = pl = pr = pads
    else:
      pt, pl, pb, pr = pads
    oh = (h + pt + pb - dilation * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dilation * (kw - 1) - 1) // sw + 1
    wname = self.const(name + "/weight", self.weights(
        (cout, cin // groups, kh, kw), cin // groups * kh * kw))
    inputs = [x, wname]
    if bias:
      inputs.append(self.const(name + "/bias", self.rng.normal(
          0, 0.1, cout).astype(np.float32)))
    return self.node("Conv", inputs, name, [n, cout, oh, ow],
                     kernel_shape=[kh, kw], strides=[sh, sw],
                     pads=[pt, pl, pb, pr], dilations=[dilation, dilation],
                     group=groups)

  def relu(self, x, name="relu"):
    return self.node("Relu", [x], name, self.shapes[x])

  def relu6(self, x, name="relu6"):
    lo = self.shared_const("zero_f", np.array(0.0, np.float32))
    hi = self.shared_const("six_f", np.array(6.0, np.float32))
    return self.node("Clip", [x, lo, hi], name, self.shapes[x])

  def add(self, a, b, name="add"):
    return self.node("Add", [a, b], name, self.shapes[a])

  def sum(self, xs, name="sum"):
    return self.node("Sum", list(xs), name, self.shapes[xs[0]])

  def mean(self, xs, name="mean"):
    return self.node("Mean", list(xs), name, self.shapes[xs[0]])

  def mul_const(self, x, value, name="mul"):
    c = self.const(name + "/scale", np.array([value], np.float32))
    return self.node("Mul", [x, c], name, self.shapes[x])

  def concat(self, xs, name="concat"):
    shape = list(self.shapes[xs[0]])
    shape[1] = sum(self.shapes[x][1] for x in xs)
    return self.node("Concat", list(xs), name, shape, axis=1)

  def _pool(self, op, x, kernel, stride, pads, name, **attrs):
    n, c, h, w = self.shapes[x]
    if pads == "same":
      pt, pb = tf_same_pads(h, kernel, stride)
      pl, pr = tf_same_pads(w, kernel, stride)
    elif isinstance(pads, int):
      pt = pb = pl = pr = pads
    else:
      pt, pl, pb, pr = pads
    oh = (h + pt + pb - kernel) // stride + 1
    ow = (w + pl + pr - kernel) // stride + 1
    return self.node(op, [x], name, [n, c, oh, ow], kernel_shape=[kernel] * 2,
                     strides=[stride] * 2, pads=[pt, pl, pb, pr], **attrs)

  def maxpool(self, x, kernel, stride, pads, name="maxpool"):
    return self._pool("MaxPool", x, kernel, stride, pads, name)

  def avgpool(self, x, kernel, stride, pads, count_include_pad, name="avgpool"):
    return self._pool("AveragePool", x, kernel, stride, pads, name,
                      count_include_pad=int(count_include_pad))

  def global_avgpool(self, x, name="global_pool"):
    n, c = self.shapes[x][:2]
    return self.node("GlobalAveragePool", [x], name, [n, c, 1, 1])

  def reduce_mean_hw(self, x, name="reduce_mean"):
    n, c = self.shapes[x][:2]
    return self.node("ReduceMean", [x], name, [n, c], axes=[2, 3], keepdims=0)

  def flatten(self, x, name="flatten"):
    s = self.shapes[x]
    return self.node("Flatten", [x], name, [s[0], int(np.prod(s[1:]))],
                     axis=1)

  def gemm(self, x, cout, name="fc"):
    n, k = self.shapes[x]
    w = self.const(name + "/weight", self.weights((cout, k), k))
    b = self.const(name + "/bias", self.rng.normal(0, 0.1, cout).astype(
        np.float32))
    return self.node("Gemm", [x, w, b], name, [n, cout], transB=1)

  def pad(self, x, top, left, bottom, right, name="pad"):
    n, c, h, w = self.shapes[x]
    p = self.const(name + "/pads", np.array([0, 0, top, left, 0, 0, bottom,
                                             right], np.int64))
    return self.node("Pad", [x, p], name, [n, c, h + top + bottom,
                                           w + left + right], mode="constant")

  def slice_hw(self, x, top, left, name="slice"):
    """x[:, :, top:, left:] as torch.onnx.export emits it (Slice, opset 13)."""
    n, c, h, w = self.shapes[x]
    starts = self.const(name + "/starts", np.array([top, left], np.int64))
    ends = self.const(name + "/ends", np.array([2**63 - 1] * 2, np.int64))
    axes = self.const(name + "/axes", np.array([2, 3], np.int64))
    steps = self.const(name + "/steps", np.array([1, 1], np.int64))
    return self.node("Slice", [x, starts, ends, axes, steps], name,
                     [n, c, h - top, w - left])
