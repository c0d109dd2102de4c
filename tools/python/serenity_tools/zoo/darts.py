"""DARTS (Liu, Simonyan, Yang: "DARTS: Differentiable Architecture Search",
ICLR 2019), the DARTS_V2 genotype, built the way the authors' reference
implementation (github.com/quark0/darts, cnn/model.py, operations.py,
genotypes.py) defines NetworkCIFAR and NetworkImageNet, module by module.

- CIFAR-10: C=36, 20 cells, reductions at cells 20//3=6 and 2*20//3=13, stem
  3x3 conv to 3*C channels; published 3.3M parameters.
- ImageNet (mobile setting): C=48, 14 cells, reductions at 4 and 9, the two
  stride-2 ImageNet stems, 7x7 average pool; published 4.7M parameters,
  574M multiply-adds.
Differences: no auxiliary head, drop-path off (inference), BatchNorm folded
into the preceding convolution (one bias per channel instead of BN's scale and
shift).
"""
from .builder import Builder

# genotypes.py, DARTS_V2.
DARTS_V2_NORMAL = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                   ("sep_conv_3x3", 1), ("skip_connect", 0),
                   ("skip_connect", 0), ("dil_conv_3x3", 2)]
DARTS_V2_NORMAL_CONCAT = [2, 3, 4, 5]
DARTS_V2_REDUCE = [("max_pool_3x3", 0), ("max_pool_3x3", 1),
                   ("skip_connect", 2), ("max_pool_3x3", 1),
                   ("max_pool_3x3", 0), ("skip_connect", 2),
                   ("skip_connect", 2), ("max_pool_3x3", 1)]
DARTS_V2_REDUCE_CONCAT = [2, 3, 4, 5]


def relu_conv_bn(b, x, cout, kernel, stride, pad, name):
  x = b.relu(x, name + "/relu")
  return b.conv(x, cout, kernel, stride, pad, name=name + "/conv")


def factorized_reduce(b, x, cout, name):
  """operations.py FactorizedReduce: ReLU, two 1x1 stride-2 convs on x and on
  x shifted by one pixel (x[:, :, 1:, 1:]), concatenated, BN (folded)."""
  x = b.relu(x, name + "/relu")
  a = b.conv(x, cout // 2, 1, 2, 0, name=name + "/conv_1")
  shifted = b.slice_hw(x, 1, 1, name=name + "/shift")
  c = b.conv(shifted, cout // 2, 1, 2, 0, name=name + "/conv_2")
  return b.concat([a, c], name=name + "/concat")


def sep_conv(b, x, c, kernel, stride, pad, name):
  """operations.py SepConv: (ReLU, depthwise, pointwise, BN) twice, the first
  with the stride."""
  for i, s in ((1, stride), (2, 1)):
    x = b.relu(x, "%s/relu_%d" % (name, i))
    x = b.conv(x, c, kernel, s, pad, groups=c, name="%s/dw_%d" % (name, i),
               bias=False)
    x = b.conv(x, c, 1, 1, 0, name="%s/pw_%d" % (name, i))
  return x


def dil_conv(b, x, c, kernel, stride, pad, dilation, name):
  x = b.relu(x, name + "/relu")
  x = b.conv(x, c, kernel, stride, pad, dilation=dilation, groups=c,
             name=name + "/dw", bias=False)
  return b.conv(x, c, 1, 1, 0, name=name + "/pw")


def apply_op(b, op, x, c, stride, name):
  if op == "sep_conv_3x3":
    return sep_conv(b, x, c, 3, stride, 1, name)
  if op == "dil_conv_3x3":
    return dil_conv(b, x, c, 3, stride, 2, 2, name)
  if op == "max_pool_3x3":
    return b.maxpool(x, 3, stride, 1, name=name)
  if op == "skip_connect":
    return x if stride == 1 else factorized_reduce(b, x, c, name)
  raise ValueError(op)


def cell(b, s0, s1, c, reduction, reduction_prev, name):
  if reduction_prev:
    s0 = factorized_reduce(b, s0, c, name + "/preprocess0")
  else:
    s0 = relu_conv_bn(b, s0, c, 1, 1, 0, name + "/preprocess0")
  s1 = relu_conv_bn(b, s1, c, 1, 1, 0, name + "/preprocess1")
  ops = DARTS_V2_REDUCE if reduction else DARTS_V2_NORMAL
  concat = DARTS_V2_REDUCE_CONCAT if reduction else DARTS_V2_NORMAL_CONCAT
  states = [s0, s1]
  for step in range(len(ops) // 2):
    hs = []
    for k in (0, 1):
      op, index = ops[2 * step + k]
      stride = 2 if reduction and index < 2 else 1
      hs.append(apply_op(b, op, states[index], c, stride,
                         "%s/step%d/op%d_%s" % (name, step, k, op)))
    states.append(b.add(hs[0], hs[1], name="%s/step%d/add" % (name, step)))
  return b.concat([states[i] for i in concat], name=name + "/concat")


def build(imagenet):
  if imagenet:
    name, c, layers, classes, size = "darts_imagenet", 48, 14, 1000, 224
  else:
    name, c, layers, classes, size = "darts_cifar", 36, 20, 10, 32
  b = Builder(name, seed=101 if imagenet else 100)
  x = b.input("input", [1, 3, size, size])
  if imagenet:
    s0 = b.conv(x, c // 2, 3, 2, 1, name="stem0/conv_1")
    s0 = b.relu(s0, "stem0/relu")
    s0 = b.conv(s0, c, 3, 2, 1, name="stem0/conv_2")
    s1 = b.relu(s0, "stem1/relu")
    s1 = b.conv(s1, c, 3, 2, 1, name="stem1/conv")
    reduction_prev = True
    c_curr = c
  else:
    s0 = s1 = b.conv(x, 3 * c, 3, 1, 1, name="stem/conv")
    reduction_prev = False
    c_curr = c
  for i in range(layers):
    reduction = i in (layers // 3, 2 * layers // 3)
    if reduction:
      c_curr *= 2
    out = cell(b, s0, s1, c_curr, reduction, reduction_prev,
               "cell%d%s" % (i, "_reduce" if reduction else ""))
    s0, s1 = s1, out
    reduction_prev = reduction
  if imagenet:
    pooled = b.avgpool(s1, 7, 7, 0, False, name="global_pooling")
  else:
    pooled = b.global_avgpool(s1, name="global_pooling")
  logits = b.gemm(b.flatten(pooled, "flatten"), classes, "classifier")
  b.output(logits)
  return b.model(doc=__doc__)
