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
      auto shape = r.x_has_shape ? fbb.CreateVector(std::vector<int32_t>{1, 4})
                                 : 0;
      tensors.push_back(sfb::CreateTensor(
          fbb, name, shape, static_cast<sfb::DataType>(r.x_type), r.x_buffer));
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
      sfb::PadOptionsBuilder pb(fbb);
      pb.add_value(1.0f);
      options = pb.Finish().Union();
      options_type = sfb::OpOptions::PadOptions;
    }
    auto op_name = fbb.CreateString("op");
    auto op_inputs = fbb.CreateVector(r.op_inputs);
    auto op_outputs =
        r.op_has_outputs ? fbb.CreateVector(std::vector<int32_t>{1}) : 0;
    std::vector<flatbuffers::Offset<sfb::Operator>> ops = {sfb::CreateOperator(
        fbb, static_cast<sfb::OpCode>(opcode), op_name, op_inputs, op_outputs,
        options_type, options)};
    auto ops_vec = fbb.CreateVector(ops);
    auto inputs = fbb.CreateVector(std::vector<int32_t>{0});
    auto outputs = fbb.CreateVector(std::vector<int32_t>{1});
    auto name = fbb.CreateString("raw");
    auto root = sfb::CreateModel(
        fbb, r.version, name, 0, 0, r.with_tensors ? tensors_vec : 0,
        r.with_operators ? ops_vec : 0, r.with_inputs ? inputs : 0,
        r.with_outputs ? outputs : 0, r.with_buffers ? buffers_vec : 0);
    sfb::FinishModelBuffer(fbb, root);
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
