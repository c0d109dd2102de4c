#include <cstring>

#include "serenity/model_format/model.h"

namespace serenity {

const char* OpTypeName(OpType type) {
  switch (type) {
    case OpType::kConv2D:
      return "Conv2D";
    case OpType::kFullyConnected:
      return "FullyConnected";
    case OpType::kMaxPool2D:
      return "MaxPool2D";
    case OpType::kAveragePool2D:
      return "AveragePool2D";
    case OpType::kGlobalAveragePool:
      return "GlobalAveragePool";
    case OpType::kAdd:
      return "Add";
    case OpType::kMul:
      return "Mul";
    case OpType::kConcat:
      return "Concat";
    case OpType::kRelu:
      return "Relu";
    case OpType::kClamp:
      return "Clamp";
    case OpType::kSigmoid:
      return "Sigmoid";
    case OpType::kHardSwish:
      return "HardSwish";
    case OpType::kSoftmax:
      return "Softmax";
    case OpType::kReshape:
      return "Reshape";
    case OpType::kPad:
      return "Pad";
    case OpType::kSlice:
      return "Slice";
    case OpType::kResizeBilinear:
      return "ResizeBilinear";
  }
  return "Unknown";
}

const char* DataTypeName(DataType type) {
  switch (type) {
    case DataType::kFloat32:
      return "float32";
    case DataType::kFloat16:
      return "float16";
    case DataType::kInt8:
      return "int8";
    case DataType::kUint8:
      return "uint8";
    case DataType::kInt32:
      return "int32";
  }
  return "unknown";
}

const char* ActivationName(Activation activation) {
  switch (activation) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
  }
  return "unknown";
}

size_t DataTypeSize(DataType type) {
  switch (type) {
    case DataType::kFloat32:
    case DataType::kInt32:
      return 4;
    case DataType::kFloat16:
      return 2;
    case DataType::kInt8:
    case DataType::kUint8:
      return 1;
  }
  return 0;
}

int64_t Tensor::num_elements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

uint64_t Tensor::num_bytes() const {
  return static_cast<uint64_t>(num_elements()) * DataTypeSize(type);
}

std::vector<uint8_t> Tensor::DenseData() const {
  if (data == nullptr) return {};
  if (is_dense()) return std::vector<uint8_t>(data, data + data_bytes);
  std::vector<uint8_t> out(num_bytes());
  const size_t element = DataTypeSize(type);
  const int64_t width = shape.empty() ? 1 : shape.back();
  const int64_t rows = width == 0 ? 0 : num_elements() / width;
  const size_t row_bytes = static_cast<size_t>(width) * element;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(out.data() + static_cast<size_t>(r) * row_bytes,
                data + static_cast<size_t>(r * row_stride) * element, row_bytes);
  }
  return out;
}

}  // namespace serenity
