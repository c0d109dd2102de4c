// Writes .srn bytes with FlatBuffers directly, for the faults ModelBuilder
// cannot express (missing required fields, unknown union tags, a wrong
// format version, misaligned constants).
#ifndef SERENITY_TESTS_MODEL_FORMAT_RAW_MODEL_H_
#define SERENITY_TESTS_MODEL_FORMAT_RAW_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "serenity_generated.h"

namespace serenity::testing {

// By default: x [1,4] (graph input) -> op (RELU) -> y [1,4] (graph output).
struct RawModel {
  uint32_t version = 1;
  bool with_tensors = true;
  bool with_operators = true;
  bool with_inputs = true;
  bool with_outputs = true;
  bool with_buffers = true;
  bool x_has_shape = true;
  int8_t x_type = 0;
  uint32_t x_buffer = 0;
  int16_t opcode = 8;  // RELU
  std::vector<int32_t> op_inputs = {0};
  bool op_has_outputs = true;
  uint8_t options_type = 0;     // raw union tag
  bool options_table = false;   // an ElementwiseOptions table as the value
  int8_t activation = 0;        // in that table
  bool pad_options_without_paddings = false;  // a PAD op, options w/o field
  // Adds tensor 2, a [4] float constant in buffer 1 whose data is not 64-byte
  // aligned in the file.
  bool misaligned_constant = false;
};

inline std::vector<uint8_t> WriteRaw(const RawModel& r) {
  namespace sfb = ::serenity::fb;
  // The data vector's place in the file depends on what is written before
  // it; try paddings until it lands off a 64-byte boundary.
  for (int pad = 0; pad < 64; pad += 4) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<sfb::Buffer>> buffers;
    buffers.push_back(sfb::CreateBuffer(fbb));
    flatbuffers::uoffset_t data_from_end = 0;
    if (r.misaligned_constant) {
      fbb.CreateString(std::string(static_cast<size_t>(pad), 'p'));
      const uint8_t data[16] = {0};
      auto vec = fbb.CreateVector(data, 16);
      data_from_end = vec.o - 4;  // the data follows the length prefix
      buffers.push_back(sfb::CreateBuffer(fbb, vec));
    }
    auto buffers_vec = fbb.CreateVector(buffers);
    std::vector<flatbuffers::Offset<sfb::Tensor>> tensors;
    {
      auto name = fbb.CreateString("x");
      auto shape = fbb.CreateVector(std::vector<int32_t>{1, 4});
      // Tables are ended by hand throughout: the generated builders assert
      // (in debug builds) that required fields are present.
      const auto start = fbb.StartTable();
      fbb.AddOffset(sfb::Tensor::VT_NAME, name);
      if (r.x_has_shape) fbb.AddOffset(sfb::Tensor::VT_SHAPE, shape);
      fbb.AddElement<int8_t>(sfb::Tensor::VT_TYPE, r.x_type, 0);
      fbb.AddElement<uint32_t>(sfb::Tensor::VT_BUFFER, r.x_buffer, 0);
      tensors.push_back(flatbuffers::Offset<sfb::Tensor>(fbb.EndTable(start)));
    }
    {
      auto name = fbb.CreateString("y");
      auto shape = fbb.CreateVector(std::vector<int32_t>{1, 4});
      tensors.push_back(sfb::CreateTensor(fbb, name, shape));
    }
    if (r.misaligned_constant) {
      auto name = fbb.CreateString("c");
      auto shape = fbb.CreateVector(std::vector<int32_t>{4});
      tensors.push_back(sfb::CreateTensor(fbb, name, shape,
                                          sfb::DataType::FLOAT32, 1));
    }
    auto tensors_vec = fbb.CreateVector(tensors);
    flatbuffers::Offset<void> options = 0;
    sfb::OpOptions options_type = static_cast<sfb::OpOptions>(r.options_type);
    int16_t opcode = r.opcode;
    if (r.options_table) {
      options = sfb::CreateElementwiseOptions(
                    fbb, static_cast<sfb::Activation>(r.activation))
                    .Union();
    }
    if (r.pad_options_without_paddings) {
      opcode = static_cast<int16_t>(sfb::OpCode::PAD);
      const auto start = fbb.StartTable();
      fbb.AddElement<float>(sfb::PadOptions::VT_VALUE, 1.0f, 0.0f);
      options = flatbuffers::Offset<void>(fbb.EndTable(start));
      options_type = sfb::OpOptions::PadOptions;
    }
    auto op_name = fbb.CreateString("op");
    auto op_inputs = fbb.CreateVector(r.op_inputs);
    auto op_outputs = fbb.CreateVector(std::vector<int32_t>{1});
    std::vector<flatbuffers::Offset<sfb::Operator>> ops;
    {
      const auto start = fbb.StartTable();
      fbb.AddElement<int16_t>(sfb::Operator::VT_OPCODE, opcode, 0);
      fbb.AddOffset(sfb::Operator::VT_NAME, op_name);
      fbb.AddOffset(sfb::Operator::VT_INPUTS, op_inputs);
      if (r.op_has_outputs) fbb.AddOffset(sfb::Operator::VT_OUTPUTS, op_outputs);
      fbb.AddElement<uint8_t>(sfb::Operator::VT_OPTIONS_TYPE,
                              static_cast<uint8_t>(options_type), 0);
      if (!options.IsNull()) fbb.AddOffset(sfb::Operator::VT_OPTIONS, options);
      ops.push_back(flatbuffers::Offset<sfb::Operator>(fbb.EndTable(start)));
    }
    auto ops_vec = fbb.CreateVector(ops);
    auto inputs = fbb.CreateVector(std::vector<int32_t>{0});
    auto outputs = fbb.CreateVector(std::vector<int32_t>{1});
    auto name = fbb.CreateString("raw");
    const auto start = fbb.StartTable();
    fbb.AddElement<uint32_t>(sfb::Model::VT_FORMAT_VERSION, r.version, 0);
    fbb.AddOffset(sfb::Model::VT_NAME, name);
    if (r.with_tensors) fbb.AddOffset(sfb::Model::VT_TENSORS, tensors_vec);
    if (r.with_operators) fbb.AddOffset(sfb::Model::VT_OPERATORS, ops_vec);
    if (r.with_inputs) fbb.AddOffset(sfb::Model::VT_INPUTS, inputs);
    if (r.with_outputs) fbb.AddOffset(sfb::Model::VT_OUTPUTS, outputs);
    if (r.with_buffers) fbb.AddOffset(sfb::Model::VT_BUFFERS, buffers_vec);
    sfb::FinishModelBuffer(fbb,
                           flatbuffers::Offset<sfb::Model>(fbb.EndTable(start)));
    std::vector<uint8_t> bytes(fbb.GetBufferPointer(),
                               fbb.GetBufferPointer() + fbb.GetSize());
    if (!r.misaligned_constant ||
        (bytes.size() - data_from_end) % 64 != 0) {
      return bytes;
    }
  }
  return {};
}

}  // namespace serenity::testing

#endif  // SERENITY_TESTS_MODEL_FORMAT_RAW_MODEL_H_
