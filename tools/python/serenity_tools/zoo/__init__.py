"""The network zoo of DESIGN.md §4: name -> ONNX builder."""
from . import darts, nas_cells, randwire, regular, tiny

MODELS = {
    "randwire_ws_c78_224": lambda: randwire.build(224),
    "randwire_ws_c78_32": lambda: randwire.build(32),
    "darts_cifar": lambda: darts.build(imagenet=False),
    "darts_imagenet": lambda: darts.build(imagenet=True),
    "nasnet_cifar": lambda: nas_cells.nasnet(imagenet=False),
    "nasnet_imagenet": lambda: nas_cells.nasnet(imagenet=True),
    "amoebanet_cifar": lambda: nas_cells.amoebanet(imagenet=False),
    "amoebanet_imagenet": lambda: nas_cells.amoebanet(imagenet=True),
    "mobilenet_v2": regular.mobilenet_v2,
    "resnet18": regular.resnet18,
    "tiny_branch": tiny.tiny_branch,
    "tiny_concat_conv": tiny.tiny_concat_conv,
    "tiny_add_chain": tiny.tiny_add_chain,
    "tiny_all_ops": tiny.tiny_all_ops,
}

# Published parameter counts (including BatchNorm scale and shift, excluding
# auxiliary heads) and the source of each figure.
PUBLISHED = {
    "randwire_ws_c78_224": (5.6e6, "Xie et al. 2019, Table 2 (small regime)"),
    "darts_cifar": (3.3e6, "Liu et al. 2019, Table 1"),
    "darts_imagenet": (4.7e6, "Liu et al. 2019, Table 2"),
    "nasnet_cifar": (3.3e6, "Zoph et al. 2018, Table 1, NASNet-A (6 @ 768)"),
    "nasnet_imagenet": (5.3e6, "Zoph et al. 2018, Table 3, NASNet-A (4 @ 1056)"),
    "amoebanet_cifar": (3.2e6, "Real et al. 2019, Table 1, AmoebaNet-A (N=6, F=36)"),
    "amoebanet_imagenet": (5.1e6, "Real et al. 2019, Table 3, AmoebaNet-A (N=4, F=50)"),
    "mobilenet_v2": (3.504872e6, "torchvision mobilenet_v2 (paper: 3.4M)"),
    "resnet18": (11.689512e6, "torchvision resnet18"),
}
