#!/usr/bin/python3
"""Tests for onnx2srn (tools/python/serenity_tools): every supported ONNX op
converts and matches an independent evaluation, weights are re-laid out as the
schema says, and user errors give one clear line and exit code 1.

The oracle is ref_onnx (NCHW, ONNX semantics), which shares no code with the
converter; the candidate is the converted .srn graph run by ref_srn (NHWC) and,
where serenity_run is built, by Serenity's runtime. Run with /usr/bin/python3;
CMake sets PYTHONPATH and SERENITY_ONNX2SRN (the launcher).
"""
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SERENITY_SOURCE_DIR",
                        os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, os.path.join(SOURCE, "tools", "python"))

from serenity_tools import check, onnx_import, ref_onnx, srn  # noqa: E402

RNG = np.random.default_rng(1234)


def randn(*shape):
  return RNG.standard_normal(shape).astype(np.float32)


def model(nodes, inputs, outputs, inits=(), opset=13):
  """inputs/outputs: [(name, shape)]; inits: [(name, array)]."""
  g = h.make_graph(
      nodes, "test",
      [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs],
      [h.make_tensor_value_info(n, TP.FLOAT, s if s is not None else
                                ["d0", "d1", "d2", "d3"])
       for n, s in outputs],
      [nh.from_array(np.asarray(a), n) for n, a in inits])
  m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
  onnx.checker.check_model(m)
  return m


def convert(m):
  """Converts and round-trips through the .srn bytes."""
  return srn.parse(srn.serialize(onnx_import.convert(m, "test")))


def cli(args, tool="onnx2srn"):
  launcher = os.environ.get("SERENITY_ONNX2SRN" if tool == "onnx2srn" else
                            "SERENITY_ZOO")
  module = "onnx2srn_main" if tool == "onnx2srn" else "zoo_main"
  if launcher and os.path.exists(launcher):
    cmd = [launcher] + args
  else:
    cmd = ["/usr/bin/python3", "-c",
           "import sys; sys.path.insert(0, %r); from serenity_tools.%s import "
           "main; sys.exit(main())" % (os.path.join(SOURCE, "tools", "python"),
                                       module)] + args
  return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


class OpConversionTest(unittest.TestCase):
  """One small graph per supported op, compared on random inputs."""

  def assertMatches(self, m, opcodes=None, tol=1e-5):
    out = convert(m)
    if opcodes is not None:
      self.assertEqual([o.opcode for o in out.operators], opcodes)
    for seed in (0, 1):
      worst, scale, _ = check.compare(m, out, seed)
      self.assertLessEqual(worst, tol * max(scale, 1.0),
                           "max difference %g (scale %g)" % (worst, scale))
    self.assertRuntimeAgrees(m, out)
    return out

  def assertRuntimeAgrees(self, m, out):
    """Where serenity_run is built, the C++ reader must accept the converted
    model and the runtime must compute what the ONNX reference computes."""
    tools = os.environ.get("SERENITY_TOOLS_DIR")
    run = os.path.join(tools, "serenity_run") if tools else None
    if not run or not os.access(run, os.X_OK):
      return
    with tempfile.TemporaryDirectory() as tmp:
      path = os.path.join(tmp, "m.srn")
      srn.write(out, path)
      try:
        worst, scale, _ = check.compare_runtime(m, path, out, run)
      except RuntimeError as e:
        self.fail("serenity_run: %s" % e)
    self.assertLessEqual(worst, 1e-4 * max(scale, 1.0),
                         "runtime: max difference %g (scale %g)" % (worst,
                                                                   scale))

  def conv_model(self, **attrs):
    cin, cout = 4, 6
    groups = attrs.get("group", 1)
    k = attrs.pop("k", 3)
    w = randn(cout, cin // groups, k, k)
    return model([h.make_node("Conv", ["x", "w", "b"], ["y"], name="conv",
                              kernel_shape=[k, k], **attrs)],
                 [("x", [1, cin, 9, 8])], [("y", None)],
                 [("w", w), ("b", randn(cout))])

  def test_conv_variants(self):
    for attrs in ({"pads": [1, 1, 1, 1]}, {"strides": [2, 2]},
                  {"pads": [0, 1, 2, 1], "strides": [2, 1]},
                  {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
                  {"group": 2, "pads": [1, 1, 1, 1]},
                  {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                  {"auto_pad": "SAME_LOWER", "strides": [2, 2]},
                  {"auto_pad": "VALID"}, {"k": 1}):
      with self.subTest(attrs=attrs):
        self.assertMatches(self.conv_model(**dict(attrs)), ["CONV_2D"])

  def test_depthwise_conv_and_weight_layout(self):
    w = randn(4, 1, 3, 3)
    m = model([h.make_node("Conv", ["x", "w"], ["y"], name="dw", group=4,
                           pads=[1, 1, 1, 1], kernel_shape=[3, 3])],
              [("x", [1, 4, 6, 6])], [("y", [1, 4, 6, 6])], [("w", w)])
    out = self.assertMatches(m, ["CONV_2D"])
    op = out.operators[0]
    self.assertEqual(op.inputs[2], -1)  # no bias: absent optional input
    self.assertEqual(op.option("groups"), 4)
    weights = out.tensors[op.inputs[1]]
    self.assertEqual(weights.shape, [4, 3, 3, 1])  # OHWI, I = 1
    np.testing.assert_array_equal(weights.data, w.transpose(0, 2, 3, 1))
    self.assertEqual(out.tensors[out.inputs[0]].shape, [1, 6, 6, 4])

  def test_batchnorm_folds_into_conv(self):
    c = 5
    m = model([h.make_node("Conv", ["x", "w"], ["c"], name="conv",
                           pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
               h.make_node("BatchNormalization", ["c", "s", "b", "m", "v"],
                           ["y"], name="bn", epsilon=1e-3)],
              [("x", [1, 3, 8, 8])], [("y", [1, c, 8, 8])],
              [("w", randn(c, 3, 3, 3)), ("s", randn(c)), ("b", randn(c)),
               ("m", randn(c)), ("v", RNG.uniform(0.5, 2, c).astype(
                   np.float32))])
    out = self.assertMatches(m, ["CONV_2D"])
    self.assertEqual(out.tensors[out.outputs[0]].name, "y")

  def test_batchnorm_standalone(self):
    c = 3
    m = model([h.make_node("BatchNormalization", ["x", "s", "b", "m", "v"],
                           ["y"], name="bn")],
              [("x", [1, c, 4, 5])], [("y", [1, c, 4, 5])],
              [("s", randn(c)), ("b", randn(c)), ("m", randn(c)),
               ("v", RNG.uniform(0.5, 2, c).astype(np.float32))])
    self.assertMatches(m, ["MUL", "ADD"])

  def test_batchnorm_not_folded_when_conv_output_is_shared(self):
    c = 4
    m = model([h.make_node("Conv", ["x", "w"], ["c"], name="conv",
                           kernel_shape=[1, 1]),
               h.make_node("BatchNormalization", ["c", "s", "b", "m", "v"],
                           ["bn"], name="bn"),
               h.make_node("Add", ["bn", "c"], ["y"], name="add")],
              [("x", [1, 3, 4, 5])], [("y", [1, c, 4, 5])],
              [("w", randn(c, 3, 1, 1)), ("s", randn(c)), ("b", randn(c)),
               ("m", randn(c)), ("v", RNG.uniform(0.5, 2, c).astype(
                   np.float32))])
    self.assertMatches(m, ["CONV_2D", "MUL", "ADD", "ADD"])

  def test_relu_and_clip_fuse_into_conv(self):
    for op, extra, act in (("Relu", [], "RELU"), ("Clip", ["lo", "hi"],
                                                  "RELU6")):
      m = model([h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv",
                             kernel_shape=[1, 1]),
                 h.make_node(op, ["c"] + extra, ["y"], name="act")],
                [("x", [1, 3, 4, 5])], [("y", [1, 4, 4, 5])],
                [("w", randn(4, 3, 1, 1)), ("b", randn(4)),
                 ("lo", np.array(0, np.float32)),
                 ("hi", np.array(6, np.float32))])
      with self.subTest(op=op):
        out = self.assertMatches(m, ["CONV_2D"])
        self.assertEqual(out.operators[0].option("activation"), act)

  def test_unary_ops(self):
    cases = [
        ("Relu", [], {}, "RELU"), ("Sigmoid", [], {}, "SIGMOID"),
        ("Clip", ["lo", "hi"], {}, "CLAMP"),
        ("HardSwish", [], {}, "HARD_SWISH"),
    ]
    for op, extra, attrs, opcode in cases:
      opset = 14 if op == "HardSwish" else 13
      m = model([h.make_node(op, ["x"] + extra, ["y"], name="op", **attrs)],
                [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])],
                [("lo", np.array(-0.5, np.float32)),
                 ("hi", np.array(0.7, np.float32))], opset=opset)
      with self.subTest(op=op):
        self.assertMatches(m, [opcode])

  def test_clip_opset11_without_max(self):
    m = model([h.make_node("Clip", ["x", "lo"], ["y"], name="clip")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])],
              [("lo", np.array(0.25, np.float32))], opset=11)
    self.assertMatches(m, ["CLAMP"])

  def test_hardsigmoid_mul_is_hardswish(self):
    m = model([h.make_node("HardSigmoid", ["x"], ["hs"], name="hs",
                           alpha=1.0 / 6, beta=0.5),
               h.make_node("Mul", ["x", "hs"], ["y"], name="mul")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    self.assertMatches(m, ["HARD_SWISH"])

  def test_hardsigmoid_alone(self):
    m = model([h.make_node("HardSigmoid", ["x"], ["hs"], name="hs",
                           alpha=0.2, beta=0.5),
               h.make_node("Mul", ["hs", "z"], ["y"], name="mul")],
              [("x", [1, 3, 4, 4]), ("z", [1, 3, 4, 4])],
              [("y", [1, 3, 4, 4])])
    self.assertMatches(m, ["MUL", "ADD", "CLAMP", "MUL"])

  def test_binary_ops(self):
    for op, other_shape, opcodes in (
        ("Add", [1, 3, 4, 4], ["ADD"]), ("Mul", [1, 3, 4, 4], ["MUL"]),
        ("Add", [1, 3, 1, 1], ["ADD"]), ("Mul", [1, 3, 1, 1], ["MUL"]),
        ("Sub", [1, 3, 4, 4], ["MUL", "ADD"])):
      m = model([h.make_node(op, ["x", "z"], ["y"], name="op")],
                [("x", [1, 3, 4, 4]), ("z", other_shape)],
                [("y", [1, 3, 4, 4])])
      with self.subTest(op=op, other=other_shape):
        self.assertMatches(m, opcodes)

  def test_binary_with_constants(self):
    for op, const, opcodes in (
        ("Add", randn(3, 1, 1), ["ADD"]), ("Mul", randn(1, 3, 1, 1), ["MUL"]),
        ("Sub", randn(3, 1, 1), ["ADD"]), ("Div", np.array(4.0, np.float32),
                                           ["MUL"]),
        ("Mul", randn(5), ["MUL"])):
      m = model([h.make_node(op, ["x", "c"], ["y"], name="op")],
                [("x", [1, 3, 4, 5])], [("y", [1, 3, 4, 5])], [("c", const)])
      with self.subTest(op=op, shape=const.shape):
        self.assertMatches(m, opcodes)

  def test_sum_and_mean(self):
    for op, opcodes in (("Sum", ["ADD"]), ("Mean", ["ADD", "MUL"])):
      m = model([h.make_node(op, ["a", "b", "c"], ["y"], name="op")],
                [(n, [1, 2, 3, 3]) for n in "abc"], [("y", [1, 2, 3, 3])])
      with self.subTest(op=op):
        self.assertMatches(m, opcodes)

  def test_concat_axes(self):
    for axis, shapes in ((1, ([1, 2, 3, 3], [1, 5, 3, 3])),
                         (2, ([1, 2, 3, 3], [1, 2, 4, 3])),
                         (-1, ([1, 2, 3, 3], [1, 2, 3, 1]))):
      m = model([h.make_node("Concat", ["a", "b"], ["y"], name="cat",
                             axis=axis)],
                [("a", shapes[0]), ("b", shapes[1])], [("y", None)])
      with self.subTest(axis=axis):
        out = self.assertMatches(m, ["CONCAT"])
        if axis == 1:
          self.assertEqual(out.operators[0].option("axis"), 3)

  def test_pools(self):
    cases = [
        ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2],
                     "pads": [1, 1, 1, 1]}),
        ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2],
                     "ceil_mode": 1}),
        ("MaxPool", {"kernel_shape": [3, 3], "auto_pad": "SAME_UPPER",
                     "strides": [2, 2]}),
        ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                         "count_include_pad": 1}),
        ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                         "count_include_pad": 0}),
        ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2],
                         "pads": [0, 0, 1, 1]}),
        ("AveragePool", {"kernel_shape": [2, 2], "strides": [2, 2],
                         "ceil_mode": 1}),
        ("AveragePool", {"kernel_shape": [1, 1], "strides": [2, 2]}),
    ]
    for op, attrs in cases:
      m = model([h.make_node(op, ["x"], ["y"], name="pool", **attrs)],
                [("x", [1, 3, 7, 8])], [("y", None)])
      with self.subTest(op=op, attrs=attrs):
        out = self.assertMatches(
            m, ["MAX_POOL_2D" if op == "MaxPool" else "AVERAGE_POOL_2D"])
        if "count_include_pad" in attrs:
          self.assertEqual(out.operators[0].option("count_include_pad"),
                           bool(attrs["count_include_pad"]))

  def test_global_pools_and_reduce_mean(self):
    for node, opcodes in (
        (h.make_node("GlobalAveragePool", ["x"], ["y"], name="gap"),
         ["GLOBAL_AVERAGE_POOL"]),
        (h.make_node("GlobalMaxPool", ["x"], ["y"], name="gmp"),
         ["MAX_POOL_2D"]),
        (h.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[2, 3],
                     keepdims=1), ["GLOBAL_AVERAGE_POOL"]),
        (h.make_node("ReduceMean", ["x"], ["y"], name="mean", axes=[-1, -2],
                     keepdims=0), ["GLOBAL_AVERAGE_POOL", "RESHAPE"])):
      rank2 = node.op_type == "ReduceMean" and "keepdims" in str(
          node.attribute) and node.attribute[-1].i == 0
      m = model([node], [("x", [1, 3, 5, 4])],
                [("y", [1, 3] if rank2 else None)])
      with self.subTest(op=node.op_type):
        self.assertMatches(m, opcodes)

  def test_gemm_variants(self):
    for attrs, wshape in (({"transB": 1}, (6, 10)), ({}, (10, 6)),
                          ({"transB": 1, "alpha": 0.5, "beta": 2.0},
                           (6, 10))):
      m = model([h.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc",
                             **attrs)],
                [("x", [1, 10])], [("y", [1, 6])],
                [("w", randn(*wshape)), ("b", randn(6))])
      with self.subTest(attrs=attrs):
        out = self.assertMatches(m, ["FULLY_CONNECTED"])
        self.assertEqual(out.tensors[out.operators[0].inputs[1]].shape,
                         [6, 10])

  def test_matmul_add_is_fully_connected(self):
    m = model([h.make_node("MatMul", ["x", "w"], ["mm"], name="matmul"),
               h.make_node("Add", ["mm", "b"], ["y"], name="bias")],
              [("x", [1, 10])], [("y", [1, 6])],
              [("w", randn(10, 6)), ("b", randn(6))])
    out = self.assertMatches(m, ["FULLY_CONNECTED"])
    self.assertGreaterEqual(out.operators[0].inputs[2], 0)

  def test_flatten_of_spatial_map_feeds_fc(self):
    # NCHW flatten order differs from NHWC: the FC weights must be permuted.
    m = model([h.make_node("Flatten", ["x"], ["f"], name="flatten", axis=1),
               h.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc",
                           transB=1)],
              [("x", [1, 3, 4, 5])], [("y", [1, 7])],
              [("w", randn(7, 60)), ("b", randn(7))])
    self.assertMatches(m, ["RESHAPE", "FULLY_CONNECTED"])

  def test_exporter_reshape_chain_is_folded(self):
    # x.view(x.size(0), -1) as torch.onnx.export (opset 11) writes it.
    nodes = [
        h.make_node("Shape", ["x"], ["s"], name="shape"),
        h.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        h.make_node("Unsqueeze", ["n"], ["n1"], name="unsqueeze", axes=[0]),
        h.make_node("Concat", ["n1", "minus1"], ["target"], name="concat",
                    axis=0),
        h.make_node("Reshape", ["x", "target"], ["f"], name="reshape"),
        h.make_node("Gemm", ["f", "w", "b"], ["y"], name="fc", transB=1),
    ]
    m = model(nodes, [("x", [1, 8, 1, 1])], [("y", [1, 4])],
              [("zero", np.array(0, np.int64)),
               ("minus1", np.array([-1], np.int64)), ("w", randn(4, 8)),
               ("b", randn(4))], opset=11)
    self.assertMatches(m, ["RESHAPE", "FULLY_CONNECTED"])

  def test_opset13_unsqueeze_and_constant_nodes(self):
    nodes = [
        h.make_node("Constant", [], ["axes"], name="axes",
                    value=nh.from_array(np.array([0], np.int64))),
        h.make_node("Shape", ["x"], ["s"], name="shape"),
        h.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        h.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsqueeze"),
        h.make_node("Concat", ["n1", "minus1"], ["target"], name="concat",
                    axis=0),
        h.make_node("Reshape", ["x", "target"], ["y"], name="reshape"),
    ]
    m = model(nodes, [("x", [1, 8, 1, 1])], [("y", [1, 8])],
              [("zero", np.array(0, np.int64)),
               ("minus1", np.array([-1], np.int64))])
    self.assertMatches(m, ["RESHAPE"])

  def test_softmax(self):
    for opset, shape, axis in ((13, [2, 7], -1), (11, [2, 7], 1),
                               (13, [1, 5, 3, 3], 1)):
      m = model([h.make_node("Softmax", ["x"], ["y"], name="softmax",
                             axis=axis)],
                [("x", shape)], [("y", shape)], opset=opset)
      with self.subTest(opset=opset, shape=shape):
        self.assertMatches(m, ["SOFTMAX"])

  def test_pad(self):
    m = model([h.make_node("Pad", ["x", "pads"], ["y"], name="pad",
                           mode="constant")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 7, 5])],
              [("pads", np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64))])
    out = self.assertMatches(m, ["PAD"])
    self.assertEqual(out.operators[0].options["paddings"],
                     [0, 0, 1, 2, 0, 1, 0, 0])

  def test_pad_with_value(self):
    m = model([h.make_node("Pad", ["x", "pads", "v"], ["y"], name="pad")],
              [("x", [1, 2, 3, 3])], [("y", [1, 2, 5, 5])],
              [("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
               ("v", np.array(1.5, np.float32))])
    self.assertMatches(m, ["PAD"])

  def test_slice(self):
    for starts, ends, axes in (([1, 1], [2**63 - 1] * 2, [2, 3]),
                               ([0], [3], [1]), ([-3], [-1], [3])):
      m = model([h.make_node("Slice", ["x", "s", "e", "a"], ["y"],
                             name="slice")],
                [("x", [1, 5, 6, 7])], [("y", None)],
                [("s", np.array(starts, np.int64)),
                 ("e", np.array(ends, np.int64)),
                 ("a", np.array(axes, np.int64))])
      with self.subTest(starts=starts, axes=axes):
        self.assertMatches(m, ["SLICE"])

  def test_resize_bilinear(self):
    for ctm, size in (("half_pixel", None), ("pytorch_half_pixel", None),
                      ("align_corners", None), ("asymmetric", None),
                      ("half_pixel", [1, 3, 10, 6])):
      inputs = ["x", "", "scales"] if size is None else ["x", "", "", "sizes"]
      m = model([h.make_node("Resize", inputs, ["y"], name="resize",
                             mode="linear",
                             coordinate_transformation_mode=ctm)],
                [("x", [1, 3, 5, 3])], [("y", None)],
                [("scales", np.array([1, 1, 2, 2], np.float32)),
                 ("sizes", np.array(size or [1, 3, 10, 6], np.int64))])
      with self.subTest(mode=ctm, sizes=size is not None):
        self.assertMatches(m, ["RESIZE_BILINEAR"])

  def test_identity_and_dropout_are_removed(self):
    m = model([h.make_node("Relu", ["x"], ["r"], name="relu"),
               h.make_node("Dropout", ["r"], ["d"], name="dropout"),
               h.make_node("Identity", ["d"], ["y"], name="identity")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    out = self.assertMatches(m, ["RELU"])
    self.assertEqual(out.tensors[out.outputs[0]].name, "y")

  def test_output_that_is_the_input_gets_a_copy(self):
    m = model([h.make_node("Identity", ["x"], ["y"], name="identity")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    self.assertMatches(m, ["RESHAPE"])

  def test_boundary_names_layout_and_order(self):
    m = model([h.make_node("Conv", ["image", "w"], ["a"], name="first",
                           kernel_shape=[1, 1]),
               h.make_node("Relu", ["image"], ["b"], name="second"),
               h.make_node("Conv", ["b", "w"], ["c"], name="third",
                           kernel_shape=[1, 1]),
               h.make_node("Add", ["a", "c"], ["out"], name="fourth"),
               h.make_node("GlobalAveragePool", ["out"], ["p"], name="fifth"),
               h.make_node("Flatten", ["p"], ["logits"], name="sixth")],
              [("image", [1, 3, 5, 6])],
              [("out", [1, 4, 5, 6]), ("logits", [1, 4])],
              [("w", randn(4, 3, 1, 1))])
    out = self.assertMatches(m)
    self.assertEqual([o.name for o in out.operators],
                     ["first", "second", "third", "fourth", "fifth", "sixth"])
    self.assertEqual(out.tensors[out.inputs[0]].name, "image")
    self.assertEqual(out.tensors[out.inputs[0]].shape, [1, 5, 6, 3])
    self.assertEqual([out.tensors[t].name for t in out.outputs],
                     ["out", "logits"])
    self.assertEqual(out.tensors[out.outputs[0]].shape, [1, 5, 6, 4])
    self.assertEqual(out.metadata_value("serenity.io_layout"), "nchw")

  def test_runtime_boundary_with_equal_nchw_and_nhwc_shapes(self):
    # When C == H == W the NCHW and NHWC shapes coincide; the runtime must
    # still transpose (it once compared shapes instead of the layout).
    tools = os.environ.get("SERENITY_TOOLS_DIR")
    if not tools or not os.access(os.path.join(tools, "serenity_run"),
                                  os.X_OK):
      self.skipTest("serenity_run is not built")
    m = model([h.make_node("Conv", ["x", "w"], ["y"], name="conv",
                           kernel_shape=[1, 1])],
              [("x", [1, 4, 4, 4])], [("y", [1, 4, 4, 4])],
              [("w", randn(4, 4, 1, 1))])
    self.assertRuntimeAgrees(m, convert(m))

  def test_constants_are_64_byte_aligned(self):
    m = self.conv_model(pads=[1, 1, 1, 1])
    data = srn.serialize(onnx_import.convert(m, "t"))
    self.assertEqual(data[4:8], b"SRN1")
    srn.parse(data, check_alignment=True)  # raises if any buffer is not

  def test_check_detects_a_wrong_conversion(self):
    # The oracle must be able to fail: corrupt one weight of a converted model.
    m = self.conv_model(pads=[1, 1, 1, 1])
    out = convert(m)
    w = out.tensors[out.operators[0].inputs[1]]
    w.data = w.data.copy()
    w.data[0, 0, 0, 0] += 1.0
    worst, scale, _ = check.compare(m, out)
    self.assertGreater(worst, 1e-3)

  def test_unsupported_patterns_are_reported_per_node(self):
    m = model([h.make_node("Resize", ["x", "", "scales"], ["y"],
                           name="nearest", mode="nearest"),
               h.make_node("Pad", ["y", "pads"], ["z"], name="reflect",
                           mode="reflect")],
              [("x", [1, 3, 4, 4])], [("z", None)],
              [("scales", np.array([1, 1, 2, 2], np.float32)),
               ("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])
    with self.assertRaises(onnx_import.ConversionError) as ctx:
      onnx_import.convert(m)
    self.assertIn("'nearest'", str(ctx.exception))


class CliTest(unittest.TestCase):
  """The command line as a user runs it."""

  def setUp(self):
    self.tmp = tempfile.TemporaryDirectory()
    self.dir = self.tmp.name

  def tearDown(self):
    self.tmp.cleanup()

  def path(self, name):
    return os.path.join(self.dir, name)

  def assertUserError(self, result, *fragments):
    self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
    self.assertNotIn("Traceback", result.stderr + result.stdout)
    lines = result.stderr.strip().splitlines()
    self.assertEqual(len(lines), 1, result.stderr)
    self.assertTrue(lines[0].startswith("onnx2srn: error: "), lines[0])
    for f in fragments:
      self.assertIn(f, lines[0])

  def test_convert_and_check(self):
    m = model([h.make_node("Conv", ["x", "w", "b"], ["c"], name="conv",
                           kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
               h.make_node("Relu", ["c"], ["y"], name="relu")],
              [("x", [1, 3, 8, 8])], [("y", [1, 4, 8, 8])],
              [("w", randn(4, 3, 3, 3)), ("b", randn(4))])
    onnx.save(m, self.path("m.onnx"))
    r = cli([self.path("m.onnx"), "-o", self.path("m.srn"), "--check"])
    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    self.assertIn("check passed", r.stdout)
    self.assertNotIn("FAILED", r.stdout)
    out = srn.read(self.path("m.srn"))
    self.assertEqual([o.opcode for o in out.operators], ["CONV_2D"])

  def test_unsupported_ops_are_listed_with_node_names(self):
    m = model([h.make_node("Tanh", ["x"], ["a"], name="t1"),
               h.make_node("Relu", ["a"], ["b"], name="fine"),
               h.make_node("LeakyRelu", ["b"], ["c"], name="leaky"),
               h.make_node("Tanh", ["c"], ["d"], name="t2"),
               # Transpose is supported only inside constant expressions.
               h.make_node("Transpose", ["d"], ["y"], name="tr",
                           perm=[0, 1, 3, 2])],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    onnx.save(m, self.path("u.onnx"))
    r = cli([self.path("u.onnx"), "-o", self.path("u.srn")])
    self.assertUserError(r, "unsupported operators", "LeakyRelu ('leaky')",
                         "Tanh ('t1', 't2')",
                         "Transpose ('tr' on a computed tensor)")
    self.assertNotIn("fine", r.stderr)
    self.assertFalse(os.path.exists(self.path("u.srn")))

  def test_garbage_file(self):
    with open(self.path("bad.onnx"), "wb") as f:
      f.write(b"\x00\xffnot a protobuf at all\x13\x37" * 10)
    self.assertUserError(cli([self.path("bad.onnx"), "-o", self.path("b.srn")]),
                         "malformed ONNX")

  def test_truncated_file(self):
    m = self_model = model([h.make_node("Relu", ["x"], ["y"], name="r")],
                           [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    del self_model
    data = m.SerializeToString()
    with open(self.path("cut.onnx"), "wb") as f:
      f.write(data[:len(data) // 2])
    self.assertUserError(cli([self.path("cut.onnx"), "-o", self.path("c.srn")]),
                         "malformed ONNX")

  def test_empty_and_missing_files(self):
    open(self.path("empty.onnx"), "wb").close()
    self.assertUserError(cli([self.path("empty.onnx"), "-o",
                              self.path("e.srn")]), "empty")
    self.assertUserError(cli([self.path("nope.onnx"), "-o",
                              self.path("n.srn")]), "nope.onnx")

  def test_dangling_input_is_malformed(self):
    g = h.make_graph([h.make_node("Add", ["x", "ghost"], ["y"], name="add")],
                     "g", [h.make_tensor_value_info("x", TP.FLOAT, [1, 2])],
                     [h.make_tensor_value_info("y", TP.FLOAT, [1, 2])])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
    onnx.save(m, self.path("dangling.onnx"))
    self.assertUserError(cli([self.path("dangling.onnx"), "-o",
                              self.path("d.srn")]), "malformed ONNX", "ghost")

  def test_unsupported_opset(self):
    m = model([h.make_node("Relu", ["x"], ["y"], name="r")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])], opset=9)
    onnx.save(m, self.path("old.onnx"))
    self.assertUserError(cli([self.path("old.onnx"), "-o", self.path("o.srn")]),
                         "opset 9")

  def test_external_weights(self):
    m = model([h.make_node("Conv", ["x", "w"], ["y"], name="conv",
                           kernel_shape=[1, 1])],
              [("x", [1, 3, 4, 5])], [("y", [1, 4, 4, 5])],
              [("w", randn(4, 3, 1, 1))])
    onnx.save_model(m, self.path("ext.onnx"), save_as_external_data=True,
                    location="ext.weights", size_threshold=0)
    r = cli([self.path("ext.onnx"), "-o", self.path("ext.srn"), "--check"])
    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
    os.remove(self.path("ext.weights"))
    self.assertUserError(cli([self.path("ext.onnx"), "-o",
                              self.path("ext2.srn")]), "ext.weights")

  def test_unwritable_output(self):
    m = model([h.make_node("Relu", ["x"], ["y"], name="r")],
              [("x", [1, 3, 4, 4])], [("y", [1, 3, 4, 4])])
    onnx.save(m, self.path("r.onnx"))
    self.assertUserError(cli([self.path("r.onnx"), "-o",
                              self.path("no/such/dir/r.srn")]))


@unittest.skipUnless(importlib.util.find_spec("torch"),
                     "PyTorch is not installed (optional: python3-torch)")
class TorchExportTest(unittest.TestCase):
  """Real torch.onnx.export output of standard CNN definitions (written here
  after torchvision's ResNet-18 BasicBlock and MobileNetV2/V3 blocks; scaled
  down to keep the test fast), at several opsets; the oracle is PyTorch."""

  def build(self):
    import torch
    from torch import nn
    import torch.nn.functional as F

    class BasicBlock(nn.Module):

      def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
          self.downsample = nn.Sequential(
              nn.Conv2d(cin, cout, 1, stride, bias=False),
              nn.BatchNorm2d(cout))

      def forward(self, x):
        identity = x
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
          identity = self.downsample(x)
        return F.relu(out + identity)

    class InvertedResidual(nn.Module):

      def __init__(self, cin, cout, stride, t, act):
        super().__init__()
        hidden = cin * t
        self.use_res = stride == 1 and cin == cout
        self.block = nn.Sequential(
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden),
            act(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden,
                      bias=False), nn.BatchNorm2d(hidden), act(),
            nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.se1 = nn.Conv2d(hidden, 8, 1)
        self.se2 = nn.Conv2d(8, hidden, 1)

      def forward(self, x):
        y = self.block[:6](x)
        s = F.adaptive_avg_pool2d(y, 1)
        y = y * F.hardsigmoid(self.se2(F.relu(self.se1(s))))
        y = self.block[6:](y)
        return x + y if self.use_res else y

    class Net(nn.Module):

      def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(16), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.layer1 = nn.Sequential(BasicBlock(16, 16, 1),
                                    BasicBlock(16, 32, 2))
        self.mb = nn.Sequential(InvertedResidual(32, 32, 1, 2, nn.ReLU6),
                                InvertedResidual(32, 24, 2, 2, nn.Hardswish))
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(24, 10)
        self.fc_spatial = nn.Linear(24 * 2 * 2, 10)

      def forward(self, x):
        x = self.mb(self.layer1(self.stem(x)))
        up = F.interpolate(x, scale_factor=2, mode="bilinear",
                           align_corners=False)
        x = x + F.avg_pool2d(up, 2)
        logits = self.fc(self.drop(torch.flatten(
            F.adaptive_avg_pool2d(x, 1), 1)))
        spatial = self.fc_spatial(x.view(x.size(0), -1))
        return torch.softmax(logits + spatial, dim=1), x.mean([2, 3])

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
      for mod in net.modules():
        if isinstance(mod, nn.BatchNorm2d):
          mod.running_mean.normal_(0, 0.2)
          mod.running_var.uniform_(0.5, 2)
          mod.weight.normal_(1, 0.2)
          mod.bias.normal_(0, 0.2)
    return net

  def test_exports_convert_and_match_pytorch(self):
    import torch
    import warnings
    net = self.build()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
      expected = [t.numpy() for t in net(x)]
    for opset in (11, 13, 14, 17):
      f = io.BytesIO()
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, x, f, opset_version=opset,
                          input_names=["image"],
                          output_names=["probs", "features"])
      m = onnx.load_from_string(f.getvalue())
      with self.subTest(opset=opset):
        out = convert(m)
        self.assertIn("FULLY_CONNECTED", [o.opcode for o in out.operators])
        self.assertNotIn("BatchNormalization", str(out.operators))
        got = check.ref_srn.evaluate(out, {"image": check.to_srn_layout(
            x.numpy())})
        for name, ref in zip(("probs", "features"), expected):
          np.testing.assert_allclose(check.from_srn_layout(got[name]), ref,
                                     rtol=1e-4, atol=1e-5)
        # And the ONNX oracle agrees with PyTorch itself.
        ref_out = ref_onnx.evaluate(m, {"image": x.numpy()})
        np.testing.assert_allclose(ref_out["probs"], expected[0], rtol=1e-4,
                                   atol=1e-5)


  def standard_cnns(self):
    """Full-size ResNet-18 and MobileNetV2 written after torchvision's
    definitions (torchvision itself is not installed)."""
    import torch
    from torch import nn

    def conv_bn(cin, cout, k, s, groups=1, act=None):
      layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups,
                          bias=False), nn.BatchNorm2d(cout)]
      return nn.Sequential(*(layers + ([act()] if act else [])))

    class Basic(nn.Module):

      def __init__(self, cin, cout, s):
        super().__init__()
        self.a = conv_bn(cin, cout, 3, s, act=nn.ReLU)
        self.b = conv_bn(cout, cout, 3, 1)
        self.down = conv_bn(cin, cout, 1, s) if s != 1 or cin != cout else None

      def forward(self, x):
        y = self.b(self.a(x))
        return torch.relu(y + (self.down(x) if self.down else x))

    class ResNet18(nn.Module):

      def __init__(self):
        super().__init__()
        layers = [conv_bn(3, 64, 7, 2, act=nn.ReLU), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for cout, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
          layers += [Basic(cin, cout, s), Basic(cout, cout, 1)]
          cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(512, 1000)

      def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))

    class Inverted(nn.Module):

      def __init__(self, cin, cout, s, t):
        super().__init__()
        hidden = cin * t
        layers = [conv_bn(cin, hidden, 1, 1, act=nn.ReLU6)] if t != 1 else []
        layers += [conv_bn(hidden, hidden, 3, s, hidden, nn.ReLU6),
                   conv_bn(hidden, cout, 1, 1)]
        self.conv = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

      def forward(self, x):
        return x + self.conv(x) if self.res else self.conv(x)

    class MobileNetV2(nn.Module):

      def __init__(self):
        super().__init__()
        layers = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
        cin = 32
        for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                           (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                           (6, 320, 1, 1)):
          for i in range(n):
            layers.append(Inverted(cin, c, s if i == 0 else 1, t))
            cin = c
        layers.append(conv_bn(320, 1280, 1, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))

      def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))

    torch.manual_seed(1)
    nets = {"resnet18": ResNet18().eval(), "mobilenet_v2": MobileNetV2().eval()}
    with torch.no_grad():
      for net in nets.values():
        for mod in net.modules():
          if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.normal_(0, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    return nets

  def test_full_size_standard_cnns(self):
    import torch
    import warnings
    run = os.environ.get("SERENITY_TOOLS_DIR")
    run = os.path.join(run, "serenity_run") if run else None
    x = torch.randn(1, 3, 224, 224)
    for name, net in self.standard_cnns().items():
      with torch.no_grad():
        expected = net(x).numpy()
      f = io.BytesIO()
      with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, x, f, opset_version=13, input_names=["image"],
                          output_names=["logits"])
      m = onnx.load_from_string(f.getvalue())
      with self.subTest(model=name):
        out = onnx_import.convert(m, name)
        counts = {}
        for o in out.operators:
          counts[o.opcode] = counts.get(o.opcode, 0) + 1
        convs = 20 if name == "resnet18" else 52
        self.assertEqual(counts["CONV_2D"], convs)
        self.assertNotIn("RELU", counts)  # fused into the convs and adds
        self.assertNotIn("CLAMP", counts)
        with tempfile.TemporaryDirectory() as tmp:
          path = os.path.join(tmp, name + ".srn")
          srn.write(out, path)
          written = srn.read(path)
          got = check.ref_srn.evaluate(written, {"image": check.to_srn_layout(
              x.numpy())})["logits"]
          np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
          if run and os.access(run, os.X_OK):
            worst, scale, _ = check.compare_runtime(m, path, written, run)
            self.assertLess(worst, 1e-4 * max(scale, 1.0))


if __name__ == "__main__":
  unittest.main()
