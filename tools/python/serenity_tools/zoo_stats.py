"""Figures of a converted model for the zoo table, computed from the .srn."""
import collections

import numpy as np

# Published multiply-accumulate counts (batch 1), where the papers give them.
PUBLISHED_MACS = {
    "darts_imagenet": (574e6, "Liu et al. 2019, Table 2"),
    "nasnet_imagenet": (564e6, "Zoph et al. 2018, Table 3"),
    "amoebanet_imagenet": (555e6, "Real et al. 2019, Table 3"),
    "randwire_ws_c78_224": (583e6, "Xie et al. 2019, Table 2"),
    "mobilenet_v2": (300e6, "Sandler et al. 2018, Table 4"),
    "resnet18": (1.8e9, "He et al. 2016, Table 1"),
}


def macs(model):
  total = 0
  for op in model.operators:
    if op.opcode == "CONV_2D":
      o, kh, kw, ig = model.tensors[op.inputs[1]].shape
      n, oh, ow, _ = model.tensors[op.outputs[0]].shape
      total += n * oh * ow * o * kh * kw * ig
    elif op.opcode == "FULLY_CONNECTED":
      o, k = model.tensors[op.inputs[1]].shape
      total += model.tensors[op.outputs[0]].shape[0] * o * k
  return total


def stats(model):
  acts = [t for t in model.tensors if not t.is_constant]
  act_bytes = [4 * int(np.prod(t.shape)) for t in acts]
  by_type = collections.Counter(op.opcode for op in model.operators)
  inp = model.tensors[model.inputs[0]].shape
  if len(inp) == 4:  # the user-facing (NCHW) shape
    inp = [inp[0], inp[3], inp[1], inp[2]]
  return {
      "operators": len(model.operators),
      "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])),
      "activations": len(acts),
      "activation_bytes": sum(act_bytes),
      "largest_activation_bytes": max(act_bytes),
      "parameters": model.parameter_count(),
      "macs": macs(model),
      "input": inp,
  }


def _bytes(n):
  if n >= 2**20:
    return "%.1f MiB" % (n / 2**20)
  return "%.1f KiB" % (n / 2**10)


def _m(x):
  return "%.2fM" % (x / 1e6) if x < 1e9 else "%.2fG" % (x / 1e9)


def markdown(rows, published):
  """rows: [(name, stats)]; published: {name: (params, source)}."""
  out = ["| model | input | operators | activation tensors (total / largest) "
         "| parameters (published) | MACs (published) |",
         "|---|---|---:|---|---|---|"]
  for name, s in rows:
    pub = published.get(name)
    params = "{:,}".format(s["parameters"])
    if pub:
      params += " (%s, %+.1f%%)" % (_m(pub[0]), 100.0 * (s["parameters"] -
                                                        pub[0]) / pub[0])
    mac = _m(s["macs"])
    if name in PUBLISHED_MACS:
      p = PUBLISHED_MACS[name][0]
      mac += " (%s, %+.1f%%)" % (_m(p), 100.0 * (s["macs"] - p) / p)
    out.append("| `%s` | %s | %d | %d (%s / %s) | %s | %s |" % (
        name, "x".join(str(d) for d in s["input"]), s["operators"],
        s["activations"], _bytes(s["activation_bytes"]),
        _bytes(s["largest_activation_bytes"]), params, mac))
  out.append("")
  out.append("Operators by type:")
  out.append("")
  out.append("| model | operators by type |")
  out.append("|---|---|")
  for name, s in rows:
    out.append("| `%s` | %s |" % (name, ", ".join(
        "%s %d" % (k, v) for k, v in s["by_type"].items())))
  return "\n".join(out) + "\n"
