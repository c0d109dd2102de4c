"""The .srn model in Python: a plain in-memory form, a writer and a reader.

The layout conventions are those of model_format/serenity.fbs: NHWC
activations, OHWI convolution weights, [O, K] fully-connected weights, buffer 0
empty, tensor.buffer > 0 for constants, -1 for an absent optional input.
Constant data is written 64-byte aligned so a mapped file can be used in place.
"""
import importlib

import flatbuffers
import numpy as np

from . import fbgen

FORMAT_VERSION = 1
FILE_IDENTIFIER = b"SRN1"
BUFFER_ALIGNMENT = 64

OPCODES = [
    "CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D",
    "GLOBAL_AVERAGE_POOL", "ADD", "MUL", "CONCAT", "RELU", "CLAMP", "SIGMOID",
    "HARD_SWISH", "SOFTMAX", "RESHAPE", "PAD", "SLICE", "RESIZE_BILINEAR"
]
ACTIVATIONS = ["NONE", "RELU", "RELU6"]

# opcode -> (options table, {field: kind}); kind is "int", "float", "bool",
# "act" (Activation enum) or "ints" (vector of int). Field order follows the
# schema.
_POOL = ("Pool2DOptions", {
    "filter_h": "int", "filter_w": "int", "stride_h": "int", "stride_w": "int",
    "pad_top": "int", "pad_bottom": "int", "pad_left": "int",
    "pad_right": "int", "count_include_pad": "bool"})
_ELEMENTWISE = ("ElementwiseOptions", {"activation": "act"})
OPTIONS = {
    "CONV_2D": ("Conv2DOptions", {
        "stride_h": "int", "stride_w": "int", "dilation_h": "int",
        "dilation_w": "int", "pad_top": "int", "pad_bottom": "int",
        "pad_left": "int", "pad_right": "int", "groups": "int",
        "activation": "act"}),
    "FULLY_CONNECTED": ("FullyConnectedOptions", {"activation": "act"}),
    "MAX_POOL_2D": _POOL,
    "AVERAGE_POOL_2D": _POOL,
    "ADD": _ELEMENTWISE,
    "MUL": _ELEMENTWISE,
    "CONCAT": ("ConcatOptions", {"axis": "int"}),
    "CLAMP": ("ClampOptions", {"min": "float", "max": "float"}),
    "SOFTMAX": ("SoftmaxOptions", {"axis": "int"}),
    "RESHAPE": ("ReshapeOptions", {"new_shape": "ints"}),
    "PAD": ("PadOptions", {"paddings": "ints", "value": "float"}),
    "SLICE": ("SliceOptions", {"begin": "ints", "size": "ints"}),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", {
        "align_corners": "bool", "half_pixel_centers": "bool"}),
}
# Schema defaults: a field equal to its default is not written, and the reader
# fills it back in.
DEFAULTS = {
    "stride_h": 1, "stride_w": 1, "dilation_h": 1, "dilation_w": 1,
    "pad_top": 0, "pad_bottom": 0, "pad_left": 0, "pad_right": 0, "groups": 1,
    "activation": "NONE", "filter_h": 0, "filter_w": 0,
    "count_include_pad": False, "axis": -1, "min": 0.0, "max": 6.0,
    "value": 0.0, "align_corners": False, "half_pixel_centers": True,
}


def _camel(field):
  return "".join(part.capitalize() for part in field.split("_"))


class Tensor:
  """shape: list of int (NHWC for 4-D activations). data: float32 ndarray of
  exactly that shape for a constant, None for an activation."""

  def __init__(self, name, shape, data=None):
    self.name = name
    self.shape = [int(d) for d in shape]
    self.data = data

  @property
  def is_constant(self):
    return self.data is not None


class Operator:

  def __init__(self, opcode, name, inputs, outputs, options=None):
    assert opcode in OPCODES, opcode
    self.opcode = opcode
    self.name = name
    self.inputs = list(inputs)
    self.outputs = list(outputs)
    self.options = dict(options or {})

  def option(self, field):
    return self.options.get(field, DEFAULTS.get(field))


class Model:

  def __init__(self, name="", description=""):
    self.name = name
    self.description = description
    self.metadata = []  # (key, value)
    self.tensors = []
    self.operators = []
    self.inputs = []
    self.outputs = []

  def add_tensor(self, name, shape, data=None):
    if data is not None:
      data = np.ascontiguousarray(data, dtype=np.float32)
      assert list(data.shape) == [int(d) for d in shape], (name, shape,
                                                            data.shape)
    self.tensors.append(Tensor(name, shape, data))
    return len(self.tensors) - 1

  def add_operator(self, opcode, name, inputs, outputs, options=None):
    self.operators.append(Operator(opcode, name, inputs, outputs, options))
    return len(self.operators) - 1

  def metadata_value(self, key, default=None):
    for k, v in self.metadata:
      if k == key:
        return v
    return default

  def parameter_count(self):
    return sum(int(t.data.size) for t in self.tensors if t.is_constant)


# --------------------------------------------------------------------------
# Writing


def _int_vector(builder, values):
  builder.StartVector(4, len(values), 4)
  for v in reversed(values):
    builder.PrependInt32(int(v))
  return builder.EndVector()


def _uint_vector(builder, values):
  builder.StartVector(4, len(values), 4)
  for v in reversed(values):
    builder.PrependUint32(int(v))
  return builder.EndVector()


def _offset_vector(builder, offsets):
  builder.StartVector(4, len(offsets), 4)
  for off in reversed(offsets):
    builder.PrependUOffsetTRelative(off)
  return builder.EndVector()


def _aligned_bytes(builder, data):
  """A [ubyte] vector whose first element is 64-byte aligned in the file."""
  raw = data.tobytes()
  builder.StartVector(1, len(raw), BUFFER_ALIGNMENT)
  builder.head = builder.head - len(raw)
  builder.Bytes[builder.head:builder.head + len(raw)] = raw
  return builder.EndVector()


def serialize(model):
  """Returns the .srn bytes of `model`."""
  fbgen.ensure_generated()
  mods = {}

  def mod(name):
    if name not in mods:
      mods[name] = importlib.import_module("serenity.fb." + name)
    return mods[name]

  weight_bytes = sum(t.data.nbytes for t in model.tensors if t.is_constant)
  b = flatbuffers.Builder(weight_bytes + 64 * len(model.tensors) + 4096)

  # Constants first: they end up at the end of the file.
  const_tensors = [i for i, t in enumerate(model.tensors) if t.is_constant]
  buffer_of = {}
  data_offsets = []
  for i in const_tensors:
    data_offsets.append(_aligned_bytes(b, model.tensors[i].data))
    buffer_of[i] = len(data_offsets)  # buffer 0 is the empty one
  Buf = mod("Buffer")
  buffers = []
  Buf.Start(b)
  buffers.append(Buf.End(b))
  for off in data_offsets:
    Buf.Start(b)
    Buf.AddData(b, off)
    buffers.append(Buf.End(b))

  T = mod("Tensor")
  tensors = []
  for i, t in enumerate(model.tensors):
    name = b.CreateString(t.name)
    shape = _int_vector(b, t.shape)
    T.Start(b)
    T.AddName(b, name)
    T.AddShape(b, shape)
    if i in buffer_of:
      T.AddBuffer(b, buffer_of[i])
    tensors.append(T.End(b))

  Op = mod("Operator")
  OpOptions = mod("OpOptions").OpOptions
  ops = []
  for op in model.operators:
    options_off = None
    options_type = 0
    if op.opcode in OPTIONS:
      table, fields = OPTIONS[op.opcode]
      m = mod(table)
      vectors = {f: _int_vector(b, op.options[f]) for f, kind in fields.items()
                 if kind == "ints" and f in op.options}
      m.Start(b)
      for field, kind in fields.items():
        if field not in op.options:
          continue
        add = getattr(m, "Add" + _camel(field))
        value = op.options[field]
        if kind == "ints":
          add(b, vectors[field])
        elif kind == "act":
          add(b, ACTIVATIONS.index(value))
        elif kind == "bool":
          add(b, bool(value))
        elif kind == "float":
          add(b, float(value))
        else:
          add(b, int(value))
      options_off = m.End(b)
      options_type = getattr(OpOptions, table)
    name = b.CreateString(op.name)
    inputs = _int_vector(b, op.inputs)
    outputs = _int_vector(b, op.outputs)
    Op.Start(b)
    Op.AddOpcode(b, OPCODES.index(op.opcode))
    Op.AddName(b, name)
    Op.AddInputs(b, inputs)
    Op.AddOutputs(b, outputs)
    if options_off is not None:
      Op.AddOptionsType(b, options_type)
      Op.AddOptions(b, options_off)
    ops.append(Op.End(b))

  KV = mod("KeyValue")
  kvs = []
  for key, value in model.metadata:
    k = b.CreateString(key)
    v = b.CreateString(value)
    KV.Start(b)
    KV.AddKey(b, k)
    KV.AddValue(b, v)
    kvs.append(KV.End(b))

  M = mod("Model")
  tensors_vec = _offset_vector(b, tensors)
  ops_vec = _offset_vector(b, ops)
  buffers_vec = _offset_vector(b, buffers)
  kv_vec = _offset_vector(b, kvs)
  inputs_vec = _int_vector(b, model.inputs)
  outputs_vec = _int_vector(b, model.outputs)
  name = b.CreateString(model.name)
  description = b.CreateString(model.description)
  M.Start(b)
  M.AddFormatVersion(b, FORMAT_VERSION)
  M.AddName(b, name)
  M.AddDescription(b, description)
  M.AddMetadata(b, kv_vec)
  M.AddTensors(b, tensors_vec)
  M.AddOperators(b, ops_vec)
  M.AddInputs(b, inputs_vec)
  M.AddOutputs(b, outputs_vec)
  M.AddBuffers(b, buffers_vec)
  root = M.End(b)
  b.Finish(root, file_identifier=FILE_IDENTIFIER)
  return bytes(b.Output())


def write(model, path):
  data = serialize(model)
  tmp = path + ".tmp"
  with open(tmp, "wb") as f:
    f.write(data)
  import os
  os.replace(tmp, path)
  return len(data)


# --------------------------------------------------------------------------
# Reading (for the tools' own checks and statistics; the C++ reader is the
# one that validates)


class FormatError(Exception):
  pass


def parse(data, check_alignment=True):
  """Reads .srn bytes into a Model. Raises FormatError on what it notices."""
  fbgen.ensure_generated()
  ModelFb = importlib.import_module("serenity.fb.Model").Model
  if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
    raise FormatError("not a .srn file (identifier is not SRN1)")
  root = ModelFb.GetRootAs(data, 0)
  if root.FormatVersion() != FORMAT_VERSION:
    raise FormatError("format_version %d, expected %d" %
                      (root.FormatVersion(), FORMAT_VERSION))
  model = Model(_s(root.Name()), _s(root.Description()))
  for i in range(root.MetadataLength()):
    kv = root.Metadata(i)
    model.metadata.append((_s(kv.Key()), _s(kv.Value())))
  buffers = []
  for i in range(root.BuffersLength()):
    buf = root.Buffers(i)
    if buf.DataIsNone() or buf.DataLength() == 0:
      buffers.append(None)
      continue
    start = buf._tab.Vector(buf._tab.Offset(4))
    if check_alignment and start % BUFFER_ALIGNMENT:
      raise FormatError("buffer %d data at offset %d is not %d-byte aligned" %
                        (i, start, BUFFER_ALIGNMENT))
    buffers.append(buf.DataAsNumpy())
  for i in range(root.TensorsLength()):
    t = root.Tensors(i)
    shape = [int(x) for x in t.ShapeAsNumpy()] if t.ShapeLength() else []
    data = None
    if t.Buffer():
      raw = buffers[t.Buffer()]
      data = np.frombuffer(raw.tobytes(), dtype=np.float32).reshape(shape)
    model.tensors.append(Tensor(_s(t.Name()), shape, data))
  OpOptions = importlib.import_module("serenity.fb.OpOptions").OpOptions
  type_names = {v: k for k, v in vars(OpOptions).items()
                if not k.startswith("_")}
  for i in range(root.OperatorsLength()):
    o = root.Operators(i)
    opcode = OPCODES[o.Opcode()]
    options = {}
    if o.OptionsType():
      table = type_names[o.OptionsType()]
      cls = getattr(importlib.import_module("serenity.fb." + table), table)
      tab = o.Options()
      opt = cls()
      opt.Init(tab.Bytes, tab.Pos)
      for field, kind in OPTIONS[opcode][1].items():
        getter = getattr(opt, _camel(field))
        if kind == "ints":
          n = getattr(opt, _camel(field) + "Length")()
          options[field] = [int(getter(j)) for j in range(n)]
        elif kind == "act":
          options[field] = ACTIVATIONS[getter()]
        else:
          options[field] = getter()
    model.operators.append(
        Operator(opcode, _s(o.Name()),
                 [int(x) for x in o.InputsAsNumpy()] if o.InputsLength() else [],
                 [int(x) for x in o.OutputsAsNumpy()] if o.OutputsLength() else [],
                 options))
  model.inputs = [int(x) for x in root.InputsAsNumpy()] if root.InputsLength() else []
  model.outputs = [int(x) for x in root.OutputsAsNumpy()] if root.OutputsLength() else []
  return model


def read(path):
  with open(path, "rb") as f:
    return parse(f.read())


def _s(value):
  if value is None:
    return ""
  return value.decode("utf-8") if isinstance(value, bytes) else value
