"""NASNet-A and AmoebaNet-A: the cell framework of their TensorFlow reference
implementations, rebuilt on the ONNX builder.

Sources (facts, not code):
- NASNet-A: Zoph, Vasudevan, Shlens, Le, "Learning Transferable Architectures
  for Scalable Image Recognition", CVPR 2018; reference implementation
  tensorflow/models research/slim/nets/nasnet/nasnet.py and nasnet_utils.py
  (NasNetANormalCell, NasNetAReductionCell, cifar_config: 18 cells i.e. N=6,
  32 filters, stem multiplier 3; mobile_imagenet_config: 12 cells i.e. N=4,
  44 filters, stem multiplier 1). Published: NASNet-A (6 @ 768) CIFAR-10 3.3M
  parameters; NASNet-A (4 @ 1056) mobile ImageNet 5.3M parameters, 564M
  multiply-adds.
- AmoebaNet-A: Real, Aggarwal, Huang, Le, "Regularized Evolution for Image
  Classifier Architecture Search", AAAI 2019; reference implementation
  tensorflow/tpu models/official/amoeba_net (model_specs.py 'amoeba_net_a'
  cells, network_utils.py BaseCell, model_builder.py _build_network_base).
  Published: AmoebaNet-A (N=6, F=36) CIFAR-10 3.2M parameters; AmoebaNet-A
  (N=4, F=50) mobile ImageNet 5.1M parameters, 555M multiply-adds.

Structure (both): a cell applies ReLU-1x1 conv-BN to its input h_i and adjusts
h_{i-1} (factorized reduction if the spatial size differs, ReLU-1x1 conv-BN if
the channel count differs); five combinations, each adding two operations on
earlier hidden states; the unused hidden states are concatenated. N normal
cells per stack, three stacks, reduction cells between them (ImageNet: a
stride-2 3x3 VALID conv and two reduction cells as the stem). Padding is
TensorFlow 'SAME' (asymmetric for stride 2), average pools exclude padding.
Classifier: ReLU, global average pool, fully connected (no softmax: logits).
Differences: no auxiliary head, drop-path off, BatchNorm folded into the
preceding convolution, 1000 ImageNet classes (TF-slim uses 1001).
"""
from .builder import Builder

NASNET_A_NORMAL = dict(
    operations=["separable_5x5_2", "separable_3x3_2", "separable_5x5_2",
                "separable_3x3_2", "avg_pool_3x3", "none", "avg_pool_3x3",
                "avg_pool_3x3", "separable_3x3_2", "none"],
    used_hiddenstates=[1, 0, 0, 0, 0, 0, 0],
    hiddenstate_indices=[0, 1, 1, 1, 0, 1, 1, 1, 0, 0])
NASNET_A_REDUCTION = dict(
    operations=["separable_5x5_2", "separable_7x7_2", "max_pool_3x3",
                "separable_7x7_2", "avg_pool_3x3", "separable_5x5_2", "none",
                "avg_pool_3x3", "separable_3x3_2", "max_pool_3x3"],
    used_hiddenstates=[1, 1, 1, 0, 0, 0, 0],
    hiddenstate_indices=[0, 1, 0, 1, 0, 1, 3, 2, 2, 0])
AMOEBANET_A_NORMAL = dict(
    operations=["avg_pool_3x3", "max_pool_3x3", "separable_3x3_2", "none",
                "none", "avg_pool_3x3", "separable_3x3_2", "separable_5x5_2",
                "avg_pool_3x3", "separable_3x3_2"],
    used_hiddenstates=[1, 0, 1, 0, 0, 1, 0],
    hiddenstate_indices=[0, 0, 1, 1, 0, 1, 0, 2, 5, 0])
AMOEBANET_A_REDUCTION = dict(
    operations=["separable_3x3_2", "avg_pool_3x3", "max_pool_3x3",
                "separable_7x7_2", "max_pool_3x3", "max_pool_3x3",
                "separable_3x3_2", "1x7_7x1", "avg_pool_3x3",
                "separable_7x7_2"],
    used_hiddenstates=[1, 1, 0, 0, 0, 0, 0],
    hiddenstate_indices=[1, 0, 0, 2, 1, 0, 4, 0, 1, 0])


def factorized_reduction(b, x, filters, stride, name):
  """nasnet_utils.factorized_reduction. Stride 2: two paths, 1x1 average pool
  with stride 2 then 1x1 conv, the second on x padded bottom/right and shifted
  by one pixel; concatenated; BN (folded). The reference asserts an even
  filter count; for an odd one (AmoebaNet-A F=50 gives 25 in the second
  ImageNet stem cell) the first path gets the extra channel."""
  if stride == 1:
    return b.conv(x, filters, 1, name=name + "/path_conv")
  p1 = b.avgpool(x, 1, stride, 0, False, name=name + "/path1_pool")
  p1 = b.conv(p1, filters - filters // 2, 1, name=name + "/path1_conv")
  p2 = b.pad(x, 0, 0, 1, 1, name=name + "/path2_pad")
  p2 = b.slice_hw(p2, 1, 1, name=name + "/path2_shift")
  p2 = b.avgpool(p2, 1, stride, 0, False, name=name + "/path2_pool")
  p2 = b.conv(p2, filters // 2, 1, name=name + "/path2_conv")
  return b.concat([p1, p2], name=name + "/concat")


def stacked_separable(b, x, operation, filters, stride, name):
  kernel = int(operation.split("_")[1].split("x")[0])
  layers = int(operation.split("_")[-1])
  for i in range(1, layers + 1):
    x = b.relu(x, "%s/relu_%d" % (name, i))
    x = b.conv(x, b.channels(x), kernel, stride, same=True,
               groups=b.channels(x), bias=False,
               name="%s/separable_%dx%d_%d/depthwise" % (name, kernel, kernel,
                                                         i))
    x = b.conv(x, filters, 1, name="%s/separable_%dx%d_%d/pointwise" %
               (name, kernel, kernel, i))
    stride = 1
  return x


def apply_operation(b, x, operation, stride, original_input, filters, name):
  if stride > 1 and not original_input:
    stride = 1
  input_filters = b.channels(x)
  if "separable" in operation:
    return stacked_separable(b, x, operation, filters, stride, name)
  if operation == "1x7_7x1":
    reduced = filters // 4  # bottleneck, network_utils._apply_operation
    x = b.relu(x, name + "/relu_pre")
    x = b.conv(x, reduced, 1, name=name + "/pre_1x1")
    x = b.relu(x, name + "/relu_1x7")
    x = b.conv(x, reduced, (1, 7), (1, stride), same=True, name=name + "/1x7")
    x = b.relu(x, name + "/relu_7x1")
    x = b.conv(x, reduced, (7, 1), (stride, 1), same=True, name=name + "/7x1")
    x = b.relu(x, name + "/relu_post")
    return b.conv(x, filters, 1, name=name + "/post_1x1")
  if operation == "none":
    if stride > 1 or input_filters != filters:
      x = b.relu(x, name + "/relu")
      x = b.conv(x, filters, 1, stride, 0, name=name + "/1x1")
    return x
  if "pool" in operation:
    kernel = int(operation.split("_")[-1].split("x")[0])
    if operation.startswith("avg"):
      x = b.avgpool(x, kernel, stride, "same", False, name=name + "/avg_pool")
    else:
      x = b.maxpool(x, kernel, stride, "same", name=name + "/max_pool")
    if input_filters != filters:
      x = b.conv(x, filters, 1, name=name + "/1x1")
    return x
  raise ValueError(operation)


def base_cell(b, spec, net, prev_layer, filters, stride, name):
  """network_utils.BaseCell.__call__."""
  # _reduce_prev_layer
  if prev_layer is None:
    prev_layer = net
  elif b.shape(prev_layer)[2] != b.shape(net)[2]:
    prev_layer = b.relu(prev_layer, name + "/prev_relu")
    prev_layer = factorized_reduction(b, prev_layer, filters, 2,
                                      name + "/prev_reduction")
  elif b.channels(prev_layer) != filters:
    prev_layer = b.relu(prev_layer, name + "/prev_relu")
    prev_layer = b.conv(prev_layer, filters, 1, name=name + "/prev_1x1")
  # _cell_base
  h = b.relu(net, name + "/relu")
  h = b.conv(h, filters, 1, name=name + "/1x1")
  states = [h, prev_layer]
  ops, idx = spec["operations"], spec["hiddenstate_indices"]
  for it in range(5):
    outs = []
    for side, k in (("left", 2 * it), ("right", 2 * it + 1)):
      outs.append(apply_operation(
          b, states[idx[k]], ops[k], stride, idx[k] < 2, filters,
          "%s/comb_iter_%d/%s" % (name, it, side)))
    states.append(b.add(outs[0], outs[1],
                        name="%s/comb_iter_%d/combine" % (name, it)))
  # _combine_unused_states
  used = spec["used_hiddenstates"]
  final_h, final_c = b.shape(states[-1])[2], b.channels(states[-1])
  for k, is_used in enumerate(used):
    h_k, c_k = b.shape(states[k])[2], b.channels(states[k])
    if not is_used and (h_k != final_h or c_k != final_c):
      states[k] = factorized_reduction(b, states[k], final_c,
                                       2 if h_k != final_h else 1,
                                       "%s/cell_output/reduction_%d" % (name,
                                                                        k))
  return b.concat([s for s, u in zip(states, used) if not u],
                  name=name + "/cell_output/concat")


def build_network(name, normal, reduction, num_cells, filters, imagenet,
                  stem_filters, seed, classes):
  """nasnet.py _build_nasnet_base / amoeba_net model_builder
  _build_network_base, with skip_reduction_layer_input = 0."""
  b = Builder(name, seed)
  size = 224 if imagenet else 32
  x = b.input("input", [1, 3, size, size])
  if imagenet:
    net = b.conv(x, stem_filters, 3, 2, 0, name="stem/conv0")  # VALID
    cell_outputs = [None, net]
    scaling = 1.0 / 4
    for i in range(2):
      net = base_cell(b, reduction, net, cell_outputs[-2],
                      int(filters * scaling), 2, "cell_stem_%d" % i)
      cell_outputs.append(net)
      scaling *= 2
  else:
    net = b.conv(x, stem_filters, 3, same=True, name="stem/conv_3x3")
    cell_outputs = [None, net]
  reduction_indices = [int(k / 3.0 * num_cells) for k in (1, 2)]
  scaling = 1.0
  for cell_num in range(num_cells):
    if cell_num in reduction_indices:
      scaling *= 2
      net = base_cell(b, reduction, net, cell_outputs[-2],
                      int(filters * scaling), 2,
                      "reduction_cell_%d" % reduction_indices.index(cell_num))
      cell_outputs.append(net)
    net = base_cell(b, normal, net, cell_outputs[-2], int(filters * scaling),
                    1, "cell_%d" % cell_num)
    cell_outputs.append(net)
  net = b.relu(net, "final_layer/relu")
  net = b.reduce_mean_hw(net, "final_layer/global_pool")
  logits = b.gemm(net, classes, "final_layer/fc")
  b.output(logits)
  return b.model(doc=__doc__)


def nasnet(imagenet):
  if imagenet:  # mobile_imagenet_config: N=4 (12 cells), 44 filters
    return build_network("nasnet_imagenet", NASNET_A_NORMAL,
                         NASNET_A_REDUCTION, 12, 44, True, 32, 201, 1000)
  # cifar_config: N=6 (18 cells), 32 filters, stem 3 * 32
  return build_network("nasnet_cifar", NASNET_A_NORMAL, NASNET_A_REDUCTION,
                       18, 32, False, 96, 200, 10)


def amoebanet(imagenet):
  if imagenet:  # N=4, F=50, stem_reduction_size 32 (mobile setting)
    return build_network("amoebanet_imagenet", AMOEBANET_A_NORMAL,
                         AMOEBANET_A_REDUCTION, 12, 50, True, 32, 301, 1000)
  # N=6, F=36; the CIFAR stem is NASNet's (3x3 conv, 3 * F filters)
  return build_network("amoebanet_cifar", AMOEBANET_A_NORMAL,
                       AMOEBANET_A_REDUCTION, 18, 36, False, 108, 300, 10)
