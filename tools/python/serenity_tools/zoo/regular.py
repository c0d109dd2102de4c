"""The regular controls, as torchvision defines them (module order =
torch.onnx.export's node order), BatchNorm folded.

- MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear
  Bottlenecks", CVPR 2018, Table 2 (t, c, n, s settings), width 1.0, 224x224;
  torchvision.models.mobilenet_v2. Published 3.4M parameters (torchvision:
  3,504,872), 300M multiply-adds.
- ResNet-18: He et al., "Deep Residual Learning for Image Recognition", CVPR
  2016, Table 1; torchvision.models.resnet18. 11,689,512 parameters, 1.8G FLOPs
  (multiply-adds).
"""
from .builder import Builder


def mobilenet_v2():
  b = Builder("mobilenet_v2", seed=500)
  x = b.input("input", [1, 3, 224, 224])
  h = b.relu6(b.conv(x, 32, 3, 2, 1, name="features.0.0"), "features.0.2")
  cin = 32
  index = 1
  for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2),
                     (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                     (6, 320, 1, 1)]:
    for i in range(n):
      stride = s if i == 0 else 1
      name = "features.%d.conv" % index
      y = h
      hidden = cin * t
      if t != 1:
        y = b.relu6(b.conv(y, hidden, 1, 1, 0, name=name + ".0.0"),
                    name + ".0.2")
      y = b.relu6(b.conv(y, hidden, 3, stride, 1, groups=hidden,
                         name=name + ".dw.0"), name + ".dw.2")
      y = b.conv(y, c, 1, 1, 0, name=name + ".project")
      if stride == 1 and cin == c:
        y = b.add(h, y, name="features.%d.add" % index)
      h, cin = y, c
      index += 1
  h = b.relu6(b.conv(h, 1280, 1, 1, 0, name="features.18.0"), "features.18.2")
  h = b.flatten(b.global_avgpool(h, "avgpool"), "flatten")
  b.output(b.gemm(h, 1000, "classifier.1"))
  return b.model(doc=__doc__)


def resnet18():
  b = Builder("resnet18", seed=600)
  x = b.input("input", [1, 3, 224, 224])
  h = b.relu(b.conv(x, 64, 7, 2, 3, name="conv1"), "relu")
  h = b.maxpool(h, 3, 2, 1, name="maxpool")
  cin = 64
  for layer, cout in enumerate((64, 128, 256, 512), start=1):
    for block in range(2):
      stride = 2 if layer > 1 and block == 0 else 1
      name = "layer%d.%d" % (layer, block)
      y = b.relu(b.conv(h, cout, 3, stride, 1, name=name + ".conv1"),
                 name + ".relu")
      y = b.conv(y, cout, 3, 1, 1, name=name + ".conv2")
      identity = h
      if stride != 1 or cin != cout:
        identity = b.conv(h, cout, 1, stride, 0, name=name + ".downsample")
      h = b.relu(b.add(y, identity, name=name + ".add"), name + ".relu_2")
      cin = cout
  h = b.flatten(b.global_avgpool(h, "avgpool"), "flatten")
  b.output(b.gemm(h, 1000, "fc"))
  return b.model(doc=__doc__)
