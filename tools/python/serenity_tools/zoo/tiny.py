"""Tiny hand-made graphs for tests (8x8 inputs, a few channels)."""
import numpy as np

from .builder import Builder


def tiny_branch():
  """A conv whose output feeds two branches that meet in an add."""
  b = Builder("tiny_branch", seed=700)
  x = b.input("input", [1, 4, 8, 8])
  h = b.relu(b.conv(x, 8, 3, name="stem"), "stem_relu")
  a = b.conv(h, 8, 1, name="branch_a")
  c = b.relu(b.conv(h, 8, 3, name="branch_b"), "branch_b_relu")
  b.output(b.add(a, c, name="merge"))
  return b.model(doc=tiny_branch.__doc__)


def tiny_concat_conv():
  """Three parallel branches (1x1 conv, 3x3 conv, max pool) concatenated on
  channels and mixed by a 1x1 conv: the zero-copy concat case."""
  b = Builder("tiny_concat_conv", seed=701)
  x = b.input("input", [1, 4, 8, 8])
  p = b.conv(x, 6, 1, name="branch_1x1")
  q = b.conv(x, 6, 3, name="branch_3x3")
  r = b.maxpool(x, 3, 1, 1, name="branch_pool")
  cat = b.concat([p, q, r], name="concat")
  b.output(b.conv(cat, 8, 1, name="mix"))
  return b.model(doc=tiny_concat_conv.__doc__)


def tiny_add_chain():
  """A chain of convs whose outputs are all summed pairwise into a running
  total: long-lived tensors whose order matters for the peak."""
  b = Builder("tiny_add_chain", seed=702)
  x = b.input("input", [1, 4, 8, 8])
  h = b.conv(x, 8, 3, name="conv0")
  total = h
  for i in range(1, 5):
    h = b.conv(b.relu(h, "relu%d" % i), 8, 3, name="conv%d" % i)
    total = b.add(total, h, name="add%d" % i)
  b.output(total)
  return b.model(doc=tiny_add_chain.__doc__)


def tiny_all_ops():
  """One of most .srn operators: conv, depthwise conv, pools (with and
  without count_include_pad), pad, slice, concat, add, mul, clamp, sigmoid,
  hard-swish, resize, global pool, reshape, fully connected, softmax."""
  b = Builder("tiny_all_ops", seed=703)
  x = b.input("input", [1, 3, 8, 8])
  h = b.relu6(b.conv(x, 8, 3, 2, 1, name="conv"), "relu6")
  d = b.conv(h, 8, 3, 1, 1, groups=8, name="depthwise")
  # x * HardSigmoid(x): how torch exports hardswish below opset 14.
  hsig = b.node("HardSigmoid", [d], "hardsigmoid", b.shape(d),
                alpha=1.0 / 6, beta=0.5)
  hs = b.node("Mul", [d, hsig], "hardswish", b.shape(d))
  s = b.node("Sigmoid", [b.global_avgpool(hs, "se_pool")], "se_gate",
             [1, 8, 1, 1])
  g = b.node("Mul", [hs, s], "se_scale", b.shape(hs))
  avg_in = b.avgpool(g, 3, 1, 1, True, name="avg_include_pad")
  avg_ex = b.avgpool(g, 3, 1, 1, False, name="avg_exclude_pad")
  # Not Pad -> MaxPool: ONNX Runtime (1.30, default optimisations) folds a
  # zero Pad into the pool's own padding, which is wrong for negative inputs.
  m = b.maxpool(g, 3, 1, 1, name="maxpool")
  sl = b.slice_hw(b.pad(avg_in, 0, 0, 1, 1, name="pad_br"), 1, 1,
                  name="shift")
  cat = b.concat([sl, avg_ex, m], name="concat")
  up = b.node("Resize", [cat, "", b.const("up/scales", np.array(
      [1, 1, 2, 2], np.float32))], "upsample", [1, 24, 8, 8], mode="linear",
              coordinate_transformation_mode="half_pixel")
  r = b.add(up, b.conv(x, 24, 1, name="skip"), name="add")
  r = b.flatten(b.global_avgpool(r, "pool"), "flatten")
  logits = b.gemm(r, 5, "fc")
  b.output(b.node("Softmax", [logits], "softmax", [1, 5], axis=-1))
  return b.model(doc=tiny_all_ops.__doc__)
