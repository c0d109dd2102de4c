// The in-memory form of a .srn model, and how to load and write one.
//
// A Model is a validated, immutable graph: every index is in range, every
// shape is inferred and consistent, every operator's attributes are legal, the
// graph is acyclic with one producer per activation. Code downstream
// (scheduler, kernels, runtime) trusts these facts and does not re-check them.
//
// Nothing in this header exposes FlatBuffers types.
#ifndef SERENITY_MODEL_FORMAT_MODEL_H_
#define SERENITY_MODEL_FORMAT_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "serenity/export.h"
#include "serenity/status.h"

namespace serenity {

// The .srn format version this library reads and writes.
inline constexpr uint32_t kFormatVersion = 1;

// Limits the reader enforces up front (DESIGN.md §5, class 10). A file
// exceeding any of them is rejected with kInvalidModel before any allocation
// proportional to the offending count.
inline constexpr int kMaxRank = 6;
inline constexpr int64_t kMaxDimension = int64_t{1} << 24;
inline constexpr uint64_t kMaxFileBytes = uint64_t{2} << 30;        // 2 GiB
inline constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 32;      // 4 GiB
inline constexpr uint32_t kMaxTensors = 1 << 16;
inline constexpr uint32_t kMaxOperators = 1 << 15;
inline constexpr uint32_t kMaxOperandsPerOp = 1024;
inline constexpr uint32_t kMaxFlatbufferDepth = 64;
inline constexpr uint32_t kMaxFlatbufferTables = 1 << 20;

enum class DataType : uint8_t { kFloat32, kFloat16, kInt8, kUint8, kInt32 };
enum class Activation : uint8_t { kNone, kRelu, kRelu6 };

// The operator set. Operand conventions (index into Operator::inputs):
//   kConv2D           x [N,H,W,C], weights OHWI (constant), bias [O] (constant,
//                     optional: -1) -> [N,OH,OW,O]
//   kFullyConnected   x [N,K], weights [O,K] (constant), bias [O] (optional)
//                     -> [N,O]
//   kMaxPool2D,
//   kAveragePool2D    x [N,H,W,C] -> [N,OH,OW,C]
//   kGlobalAveragePool x [N,H,W,C] -> [N,1,1,C]
//   kAdd              2+ inputs, same shape, or exactly 2 that broadcast
//   kMul              2 inputs that broadcast (either may be constant)
//   kConcat           1+ inputs, equal but for `axis`
//   kRelu, kClamp, kSigmoid, kHardSwish, kSoftmax: one input, same shape out
//   kReshape          one input -> the output tensor's shape
//   kPad              x -> x padded with a constant
//   kSlice            x -> a box of x
//   kResizeBilinear   x [N,H,W,C] -> [N,OH,OW,C] (OH, OW from the output)
enum class OpType : uint8_t {
  kConv2D,
  kFullyConnected,
  kMaxPool2D,
  kAveragePool2D,
  kGlobalAveragePool,
  kAdd,
  kMul,
  kConcat,
  kRelu,
  kClamp,
  kSigmoid,
  kHardSwish,
  kSoftmax,
  kReshape,
  kPad,
  kSlice,
  kResizeBilinear,
};
inline constexpr int kNumOpTypes = 17;

// "Conv2D", "Add", ...: stable names used in reports and the CLI.
SERENITY_API const char* OpTypeName(OpType type);
SERENITY_API const char* DataTypeName(DataType type);
SERENITY_API const char* ActivationName(Activation activation);
// Size of one element in bytes.
SERENITY_API size_t DataTypeSize(DataType type);

struct Conv2DAttrs {
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int groups = 1;
  Activation activation = Activation::kNone;
};
struct FullyConnectedAttrs {
  Activation activation = Activation::kNone;
};
struct Pool2DAttrs {
  int filter_h = 1, filter_w = 1;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  bool count_include_pad = false;  // average pooling only
};
struct ElementwiseAttrs {  // kAdd, kMul
  Activation activation = Activation::kNone;
};
struct ConcatAttrs {
  int axis = -1;  // normalised to [0, rank) by the reader
};
struct ClampAttrs {
  float min = 0.0f, max = 6.0f;
};
struct SoftmaxAttrs {
  int axis = -1;  // normalised; only the last axis is supported
};
struct ReshapeAttrs {
  std::vector<int64_t> new_shape;
};
struct PadAttrs {
  std::vector<int64_t> paddings;  // (before, after) per dimension
  float value = 0.0f;
};
struct SliceAttrs {
  std::vector<int64_t> begin;
  std::vector<int64_t> size;  // resolved by the reader: never -1
};
struct ResizeBilinearAttrs {
  bool align_corners = false;
  bool half_pixel_centers = true;
  // The output's height and width. Not stored in the file (the output
  // tensor's shape is authoritative there); the reader fills them in.
  int64_t output_h = 0, output_w = 0;
};
struct NoAttrs {};

using OpAttrs =
    std::variant<NoAttrs, Conv2DAttrs, FullyConnectedAttrs, Pool2DAttrs,
                 ElementwiseAttrs, ConcatAttrs, ClampAttrs, SoftmaxAttrs,
                 ReshapeAttrs, PadAttrs, SliceAttrs, ResizeBilinearAttrs>;

struct Quantization {
  std::vector<float> scale;
  std::vector<int64_t> zero_point;
  int quantized_dimension = 0;
};

struct SERENITY_API Tensor {
  std::string name;
  DataType type = DataType::kFloat32;
  std::vector<int64_t> shape;
  // Constant data, or nullptr for an activation. For a loaded model it points
  // into the model's own storage (the mapped file or its byte copy) and lives
  // as long as the Model. For a model under construction (ModelBuilder) it
  // points into the builder's storage.
  const uint8_t* data = nullptr;
  size_t data_bytes = 0;
  // Elements from the start of one row of a constant (a run along its last
  // axis) to the start of the next, when the rows are not adjacent; 0 when
  // the data is dense, as in every model a file or a ModelBuilder makes.
  // Only a rewritten model replayed from a plan cache entry
  // (ExecutionPlan::rewritten_model) has such constants: the weights of a
  // partial convolution, a range of input channels of the source model's
  // weights, borrowed in place instead of copied. `data` is then the first
  // element and data_bytes runs from it to the end of the last row (more
  // than num_bytes()). Code that wants the values dense calls DenseData.
  int64_t row_stride = 0;
  // Null when the tensor has no quantization. Immutable and shared: a copy
  // of the Tensor shares it (a pointer, not the parameters inline, keeps a
  // Tensor small, which a model of thousands of them and every copy of one,
  // such as a plan cache hit's replay of rewrites, feels).
  std::shared_ptr<const Quantization> quantization;

  bool is_constant() const { return data != nullptr; }
  // True unless the constant's rows are strided (row_stride above).
  bool is_dense() const { return row_stride == 0; }
  int64_t num_elements() const;
  uint64_t num_bytes() const;  // num_elements * element size
  // A copy of a constant's values, dense (rows adjacent even when the
  // constant's are strided); empty for an activation.
  std::vector<uint8_t> DenseData() const;
};

struct Operator {
  std::string name;  // may be empty; reports then say "operator <index>"
  OpType type = OpType::kAdd;
  std::vector<int> inputs;   // tensor indices; -1 for an absent optional
  std::vector<int> outputs;  // tensor indices
  OpAttrs attrs;
};

// An ahead-of-time execution plan stored in the file (see serenity.fbs).
struct StoredPlan {
  uint64_t graph_hash = 0;
  uint32_t plan_format_version = 0;
  std::vector<uint32_t> order;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> rewrites;
  std::vector<uint64_t> tensor_offsets;
  uint64_t arena_bytes = 0;
  uint64_t peak_bytes = 0;
  bool optimal = false;
  uint64_t options_hash = 0;
  // Aligned with tensor_offsets; empty when the file has none (dense).
  std::vector<int64_t> pixel_strides;
};

// A validated model. Move-only: it owns (or maps) the bytes that constant
// tensors point into, so copying would either duplicate megabytes or alias a
// mapping with two owners.
class SERENITY_API Model {
 public:
  // Loads and validates a .srn file. The file is memory-mapped where the
  // platform allows and constants are used in place. Errors:
  //   kNotFound / kIoError   the file cannot be opened or read;
  //   kInvalidModel          anything malformed (DESIGN.md §5); the message
  //                          names the file, the field, and the tensor or
  //                          operator index and name.
  //   kUnsupported           a well-formed model Serenity cannot run (e.g. a
  //                          non-float32 activation).
  static Result<Model> Load(const std::string& path);

  // Validates `bytes` (copied into the Model, which owns the copy; the caller
  // may free them on return). `source_name` appears in error messages in
  // place of a path. Errors as for Load, plus kInvalidArgument when `bytes`
  // is null and `size` is not 0.
  static Result<Model> FromBuffer(const uint8_t* bytes, size_t size,
                                  const std::string& source_name = "<buffer>");

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  const std::string& name() const;
  const std::string& description() const;
  const std::vector<std::pair<std::string, std::string>>& metadata() const;
  const std::vector<Tensor>& tensors() const;
  const std::vector<Operator>& operators() const;
  const std::vector<int>& inputs() const;   // graph input tensor indices
  const std::vector<int>& outputs() const;  // graph output tensor indices
  // The stored ahead-of-time plan, if the file has one (not yet checked
  // against the graph: that is the runtime's job via GraphHash()).
  const std::optional<StoredPlan>& plan() const;

  // The file's bytes (as loaded). Valid as long as the Model.
  const uint8_t* bytes() const;
  size_t size_bytes() const;

  // A hash of the graph section (tensors, operators, inputs, outputs, constant
  // bytes) that ignores the name, metadata and plan: what a stored plan or a
  // cache entry is keyed on.
  uint64_t GraphHash() const;

  // Total bytes of constant tensors.
  uint64_t weight_bytes() const;

  // Human-readable "operator 12 ('cell3/sep_conv_2')".
  std::string DescribeOperator(int index) const;
  std::string DescribeTensor(int index) const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Shape inference for one operator, shared by the reader (validation) and by
// the rewriting pass (new operators). Given the operator and the shapes of its
// inputs (index-aligned with op.inputs; empty vector for an absent optional),
// returns the shape of each output, or kInvalidModel naming the problem.
// `inputs` (index-aligned too, nullptr for an absent optional) lets it check
// that weights are constants; pass an empty vector to skip those checks.
// Accepts negative concat/softmax axes and slice size -1.
SERENITY_API Result<std::vector<std::vector<int64_t>>> InferOutputShapes(
    const Operator& op, const std::vector<std::vector<int64_t>>& input_shapes,
    const std::vector<const Tensor*>& inputs);

// Builds a model in code and serialises it to .srn bytes. Used by tests,
// tools and the rewriting/compile passes.
//
//   ModelBuilder b("tiny");
//   int x = b.AddInput("x", {1, 8, 8, 3});
//   int w = b.AddConstant("w", {4, 3, 3, 3}, weights);
//   int y = b.AddActivation("y", {1, 8, 8, 4});
//   b.AddOperator(OpType::kConv2D, "conv", {x, w, -1}, {y}, Conv2DAttrs{...});
//   b.MarkOutput(y);
//   Result<std::vector<uint8_t>> bytes = b.Finish();
class SERENITY_API ModelBuilder {
 public:
  explicit ModelBuilder(std::string name);
  ~ModelBuilder();
  ModelBuilder(ModelBuilder&&) noexcept;
  ModelBuilder& operator=(ModelBuilder&&) noexcept;

  void SetDescription(std::string description);
  void AddMetadata(std::string key, std::string value);

  // Each returns the new tensor's index.
  int AddInput(std::string name, std::vector<int64_t> shape,
               DataType type = DataType::kFloat32);
  int AddActivation(std::string name, std::vector<int64_t> shape,
                    DataType type = DataType::kFloat32);
  int AddConstant(std::string name, std::vector<int64_t> shape,
                  std::vector<float> values);
  int AddConstantBytes(std::string name, std::vector<int64_t> shape,
                       DataType type, std::vector<uint8_t> bytes);
  // Returns the new operator's index.
  int AddOperator(OpType type, std::string name, std::vector<int> inputs,
                  std::vector<int> outputs, OpAttrs attrs = NoAttrs{});
  void MarkOutput(int tensor);
  void SetPlan(StoredPlan plan);

  // Serialises. The builder checks only what it must to write a file (sizes
  // FlatBuffers can address); operator and tensor indices are written as
  // given. Run the bytes through Model::FromBuffer for full validation.
  // Tests use this to write deliberately bad models. Errors:
  // kInvalidArgument when a dimension or attribute value does not fit the
  // file's 32-bit fields; kResourceExhausted when the file would exceed
  // kMaxFileBytes.
  Result<std::vector<uint8_t>> Finish() const;

  // Starts from an existing model (all tensors, operators, constants, plan).
  static ModelBuilder FromModel(const Model& model);

  // Direct access for tools that edit graphs. Indices stay stable.
  std::vector<Tensor>& tensors();
  std::vector<Operator>& operators();
  std::vector<int>& inputs();
  std::vector<int>& outputs();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes `bytes` to `path` atomically: a temporary file in the same
// directory, fsync, rename over `path`, fsync of the directory. Readers see
// the old file or the new one, never a mix. Errors: kIoError.
SERENITY_API Status WriteFileAtomically(const std::string& path, const std::vector<uint8_t>& bytes);

}  // namespace serenity

#endif  // SERENITY_MODEL_FORMAT_MODEL_H_
