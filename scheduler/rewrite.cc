#include "serenity/scheduler/rewrite.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <queue>
#include <set>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "rewrite_internal.h"
#include "serenity/internal/model_assembly.h"
#include "serenity/internal/phase_probe.h"
#include "serenity/scheduler/memory_model.h"

namespace serenity::scheduler {

const char* RewriteKindName(RewriteKind kind) {
  switch (kind) {
    case RewriteKind::kChannelWise:
      return "channel-wise";
    case RewriteKind::kKernelWise:
      return "kernel-wise";
    case RewriteKind::kPartialSum:
      return "partial-sum";
    case RewriteKind::kCopyConcat:
      return "copy-concat";
    case RewriteKind::kMergeDuplicates:
      return "merge-duplicates";
    case RewriteKind::kKernelThenChannelWise:
      return "kernel-wise+channel-wise";
    case RewriteKind::kShiftedSubsample:
      return "shifted-subsample";
  }
  return "?";
}

const char* RewriteEditKindName(RewriteEdit::Kind kind) {
  switch (kind) {
    case RewriteEdit::Kind::kMergeDuplicate:
      return "merge-duplicate";
    case RewriteEdit::Kind::kPartialSum:
      return "partial-sum";
    case RewriteEdit::Kind::kChannelWise:
      return "channel-wise";
    case RewriteEdit::Kind::kKernelWise:
      return "kernel-wise";
    case RewriteEdit::Kind::kShiftedSubsample:
      return "shifted-subsample";
  }
  return "?";
}

namespace {

std::vector<int> IdentityOrder(size_t n) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  return order;
}

// The operators of a model being edited, in order, indexed by position,
// with each tensor's producer and readers. Removing and inserting operators
// moves positions (ints), never Operators, and finding a producer or the
// readers does not scan the model, so an edit of a model of hundreds of
// operators costs microseconds (a plan cache hit replays a recipe of a
// hundred edits within its millisecond). Removed operators stay in the pool
// (unlisted, emptied) until the list is copied.
//
// Made from a source model's operators, the list borrows them: the pool
// holds an empty placeholder for each until an edit changes its inputs, and
// a borrowed operator is copied only when the list is taken (TakeInOrder) or
// copied. The operators a replay removes (a third of nasnet_cifar's) are
// then never copied nor freed.
class OperatorList {
 public:
  OperatorList() = default;
  explicit OperatorList(std::vector<Operator> operators)
      : pool_(std::move(operators)),
        listed_(pool_.size(), true),
        borrowed_(pool_.size(), 0),
        order_(IdentityOrder(pool_.size())) {
    listed_.reserve(pool_.capacity());
    borrowed_.reserve(pool_.capacity());
    IndexReaders(pool_);
  }
  // Borrows `source` (which must outlive the list), with room for `capacity`
  // operators in all.
  OperatorList(const std::vector<Operator>& source, size_t capacity)
      : source_(&source), order_(IdentityOrder(source.size())) {
    capacity = std::max(capacity, source.size());
    pool_.reserve(capacity);
    pool_.resize(source.size());
    listed_.reserve(capacity);
    listed_.assign(source.size(), true);
    borrowed_.reserve(capacity);
    borrowed_.assign(source.size(), 1);
    IndexReaders(source);
  }
  OperatorList(const OperatorList& other) : OperatorList(other.InOrder()) {}
  OperatorList& operator=(const OperatorList& other) {
    if (this != &other) *this = OperatorList(other.InOrder());
    return *this;
  }
  OperatorList(OperatorList&&) noexcept = default;
  OperatorList& operator=(OperatorList&&) noexcept = default;

  size_t size() const { return order_.size(); }
  const Operator& operator[](int position) const { return Get(order_[position]); }

  void Erase(int position) {
    const int id = order_[position];
    order_.erase(order_.begin() + position);
    listed_[id] = false;
    for (int t : Get(id).outputs) producer_[t] = -1;
    // Its name and lists go back to the heap now, for the operators the edit
    // adds next to reuse (fresh memory is much of what a cache hit's replay
    // costs). Nothing reads an unlisted operator. A borrowed one owns
    // nothing.
    if (!borrowed_[id]) pool_[id] = Operator{};
  }
  void Insert(int position, std::vector<Operator> operators) {
    const int first = static_cast<int>(pool_.size());
    for (Operator& op : operators) Add(std::move(op));
    order_.insert(order_.begin() + position, operators.size(), 0);
    std::iota(order_.begin() + position, order_.begin() + position + operators.size(), first);
  }

  // Position of the operator writing `tensor`, or -1.
  int ProducerOf(int tensor) const {
    if (tensor < 0 || tensor >= static_cast<int>(producer_.size()) || producer_[tensor] < 0) {
      return -1;
    }
    return PositionOf(producer_[tensor]);
  }
  // Positions of the operators reading `tensor`, ascending.
  std::vector<int> ConsumersOf(int tensor) const {
    std::vector<int> positions;
    ForEachReaderCandidate(tensor, [&](int id) {
      if (Reads(id, tensor)) positions.push_back(PositionOf(id));
    });
    std::sort(positions.begin(), positions.end());
    positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
    return positions;
  }
  bool HasConsumers(int tensor) const {
    bool read = false;
    ForEachReaderCandidate(tensor, [&](int id) { read = read || Reads(id, tensor); });
    return read;
  }
  // Every operator reading `from` reads `to` there instead.
  void ReplaceInput(int from, int to) {
    // Unlisted operators are skipped: a removed borrowed one still has its
    // inputs, and nothing reads it again.
    ForEachReaderCandidate(from, [&](int id) {
      if (!Reads(id, from)) return;
      for (int& input : Own(id).inputs) {
        if (input == from) input = to;
      }
      AddReader(to, id);
    });
    if (from >= 0 && from < static_cast<int>(added_head_.size())) added_head_[from] = -1;
  }

  std::vector<Operator> InOrder() const {
    std::vector<Operator> operators;
    operators.reserve(order_.size());
    for (int id : order_) operators.push_back(Get(id));
    return operators;
  }
  // The listed operators in order, in the pool's own storage: slot p takes
  // the operator at pool index order_[p], each chain of that mapping
  // followed with one move per operator (three per swap were most of the
  // replay's assembly), the rest dropped. No second vector of operators is
  // allocated and touched (a cache hit's replay ends here).
  std::vector<Operator> TakeInOrder() && {
    const int n = static_cast<int>(order_.size());
    std::vector<char> is_source(pool_.size(), 0);  // whose operator a slot takes
    for (int id : order_) is_source[id] = 1;
    std::vector<char> filled(n, 0);
    // Paths: a slot whose operator nobody takes is filled first, then the
    // slot it took from, and so on until one at or past n.
    for (int start = 0; start < n; ++start) {
      if (is_source[start]) continue;
      for (int slot = start; !filled[slot];) {
        const int from = order_[slot];
        pool_[slot] = std::move(pool_[from]);
        filled[slot] = 1;
        if (from >= n) break;
        slot = from;
      }
    }
    // What is left are cycles (and slots that keep their operator): one
    // operator is held aside while the cycle moves round.
    for (int start = 0; start < n; ++start) {
      if (filled[start]) continue;
      if (order_[start] == start) {
        filled[start] = 1;
        continue;
      }
      Operator held = std::move(pool_[start]);
      int slot = start;
      while (true) {
        const int from = order_[slot];
        filled[slot] = 1;
        if (from == start) {
          pool_[slot] = std::move(held);
          break;
        }
        pool_[slot] = std::move(pool_[from]);
        slot = from;
      }
    }
    pool_.erase(pool_.begin() + n, pool_.end());
    // The borrowed operators' slots hold placeholders: copies now.
    for (int slot = 0; slot < n; ++slot) {
      if (borrowed_[order_[slot]]) pool_[slot] = (*source_)[order_[slot]];
    }
    return std::move(pool_);
  }

 private:
  int Add(Operator op) {
    const int id = static_cast<int>(pool_.size());
    for (int t : op.outputs) Grow(t, &producer_, -1)[t] = id;
    for (int t : op.inputs) {
      if (t >= 0) AddReader(t, id);
    }
    pool_.push_back(std::move(op));
    listed_.push_back(true);
    borrowed_.push_back(0);
    return id;
  }
  const Operator& Get(int id) const { return borrowed_[id] ? (*source_)[id] : pool_[id]; }
  // The operator, copied into the pool first if borrowed, to be changed.
  Operator& Own(int id) {
    if (borrowed_[id]) {
      pool_[id] = (*source_)[id];
      borrowed_[id] = 0;
    }
    return pool_[id];
  }
  // The readers of the operators given (`operators`, the pool or the
  // source), flat (one allocation, not one per tensor): added_links_ takes
  // those added later.
  void IndexReaders(const std::vector<Operator>& operators) {
    const int count = static_cast<int>(operators.size());
    int tensors = 0;
    for (const Operator& op : operators) {
      for (int t : op.inputs) tensors = std::max(tensors, t + 1);
      for (int t : op.outputs) tensors = std::max(tensors, t + 1);
    }
    producer_.assign(tensors, -1);
    first_reader_.assign(tensors + 1, 0);
    for (int id = 0; id < count; ++id) {
      for (int t : operators[id].outputs) producer_[t] = id;
      for (int t : operators[id].inputs) {
        if (t >= 0) ++first_reader_[t + 1];
      }
    }
    for (int t = 0; t < tensors; ++t) first_reader_[t + 1] += first_reader_[t];
    initial_readers_.resize(first_reader_[tensors]);
    std::vector<int> next(first_reader_.begin(), first_reader_.end() - 1);
    for (int id = 0; id < count; ++id) {
      for (int t : operators[id].inputs) {
        if (t >= 0) initial_readers_[next[t]++] = id;
      }
    }
  }
  // Readers added since construction: a list per tensor, linked through one
  // vector (no allocation per tensor).
  void AddReader(int tensor, int id) {
    if (tensor >= static_cast<int>(added_head_.size())) added_head_.resize(tensor + 1, -1);
    for (int link = added_head_[tensor]; link >= 0; link = added_links_[link].next) {
      if (added_links_[link].id == id) return;
    }
    added_links_.push_back({id, added_head_[tensor]});
    added_head_[tensor] = static_cast<int>(added_links_.size()) - 1;
  }
  bool Reads(int id, int tensor) const {
    const std::vector<int>& inputs = Get(id).inputs;
    return listed_[id] && std::find(inputs.begin(), inputs.end(), tensor) != inputs.end();
  }
  // Calls visit(id) for the pool indices of the operators that may read
  // `tensor` (every one that does, maybe unlisted ones, maybe one twice,
  // maybe some that no longer do).
  template <typename Visit>
  void ForEachReaderCandidate(int tensor, Visit visit) const {
    if (tensor >= 0 && tensor + 1 < static_cast<int>(first_reader_.size())) {
      for (int i = first_reader_[tensor]; i < first_reader_[tensor + 1]; ++i) {
        visit(initial_readers_[i]);
      }
    }
    if (tensor >= 0 && tensor < static_cast<int>(added_head_.size())) {
      for (int link = added_head_[tensor]; link >= 0; link = added_links_[link].next) {
        visit(added_links_[link].id);
      }
    }
  }
  template <typename T>
  static std::vector<T>& Grow(int index, std::vector<T>* values, T fill) {
    if (index >= static_cast<int>(values->size())) values->resize(index + 1, fill);
    return *values;
  }
  int PositionOf(int id) const {
    return static_cast<int>(std::find(order_.begin(), order_.end(), id) - order_.begin());
  }

  const std::vector<Operator>* source_ = nullptr;  // what borrowed entries are
  std::vector<Operator> pool_;
  std::vector<bool> listed_;                // per pool entry
  std::vector<char> borrowed_;              // per pool entry: (*source_)[id]
  std::vector<int> order_;                  // pool indices
  std::vector<int> producer_;               // per tensor: pool index or -1
  // Readers per tensor: of the operators given at construction, flat
  // (initial_readers_[first_reader_[t] .. first_reader_[t + 1]]), and of
  // those added or rewired since (the list from added_head_[t]).
  struct ReaderLink {
    int id = -1;
    int next = -1;  // index in added_links_, or -1
  };
  std::vector<int> first_reader_;
  std::vector<int> initial_readers_;
  std::vector<int> added_head_;  // per tensor: index in added_links_, or -1
  std::vector<ReaderLink> added_links_;
};

// A model being edited. Tensor indices only grow (nothing is removed before
// Materialise), so they identify sites across edits. Constants point into
// the source model (which outlives this) or into `storage`, shared between
// copies and never modified. `log` lists the edits applied since
// EditableFrom, as RewriteEdits: replayed on the same source, they give the
// same tensors in the same order, so every edit leaves the model as it was
// when it fails.
struct EditableModel {
  std::string name;
  std::string description;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Tensor> tensors;
  OperatorList operators;
  std::vector<int> inputs;
  std::vector<int> outputs;
  std::vector<std::shared_ptr<const void>> storage;
  std::vector<RewriteEdit> log;
  bool keep_log = true;  // false for a replay, which has its recipe already
  // For UniqueTensorName without a pass over every name per new tensor (the
  // replay of a recipe must stay well under a millisecond): the source's
  // names (those of the first tensors, which edits never rename) through its own index
  // (model_assembly::HasTensorNamed, built once per source model, not per
  // replay), and the names the edits added, as (hash, tensor index) in an
  // open-addressing table (a flat vector, not a set of strings: no
  // allocation per name, and a copy is one allocation).
  const Model* source = nullptr;  // outlives the edit
  // Whether a source name ends in a segment an edit's name may end in
  // (EditTagged): when none does, a tagged new name cannot be a source's,
  // and the source's index is not built (a plan cache hit in a fresh
  // process, which builds it first, would hash every name for nothing).
  bool source_names_tagged = true;
  struct AddedName {
    size_t hash = 0;
    int tensor = -1;  // -1: empty slot
  };
  std::vector<AddedName> added_names;  // size 0 or a power of two
  size_t added_count = 0;
};

// Whether the last '/'-separated segment of `name` starts with one of the
// tags the edits name new tensors with (StrCat(base, "/part", i) and the like,
// maybe with UniqueTensorName's "_<n>" after it).
bool EditTagged(std::string_view name) {
  const size_t slash = name.rfind('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view segment = name.substr(slash + 1);
  for (std::string_view tag : {"sum", "part", "acc", "branch", "shift"}) {
    if (segment.substr(0, tag.size()) == tag) return true;
  }
  return false;
}

EditableModel EditableFrom(const Model& model) {
  EditableModel edit;
  edit.name = model.name();
  edit.description = model.description();
  edit.metadata = model.metadata();
  probe::Mark("replay: start");
  // Room for the tensors and operators edits add, so that they rarely move
  // the rest (the zoo's recipes add up to half again of each).
  edit.tensors.reserve(2 * model.tensors().size() + 16);
  edit.tensors = model.tensors();  // into the room reserved
  probe::Mark("copy: tensors");
  edit.operators = OperatorList(model.operators(), 2 * model.operators().size() + 16);
  probe::Mark("copy: operator list");
  edit.inputs = model.inputs();
  edit.outputs = model.outputs();
  edit.source = &model;
  edit.source_names_tagged = std::any_of(edit.tensors.begin(), edit.tensors.end(),
                                         [](const Tensor& t) { return EditTagged(t.name); });
  return edit;
}

size_t NameHash(const std::string& name) { return std::hash<std::string_view>{}(name); }

void InsertAddedName(EditableModel* edit, size_t hash, int tensor) {
  std::vector<EditableModel::AddedName>& table = edit->added_names;
  if (2 * (edit->added_count + 1) > table.size()) {
    std::vector<EditableModel::AddedName> old = std::move(table);
    table.assign(std::max<size_t>(64, 2 * old.size()), {});
    edit->added_count = 0;
    for (const EditableModel::AddedName& entry : old) {
      if (entry.tensor >= 0) InsertAddedName(edit, entry.hash, entry.tensor);
    }
  }
  size_t slot = hash & (table.size() - 1);
  while (table[slot].tensor >= 0) slot = (slot + 1) & (table.size() - 1);
  table[slot] = {hash, tensor};
  ++edit->added_count;
}

bool NameTaken(const EditableModel& edit, const std::string& name, size_t hash) {
  const std::vector<EditableModel::AddedName>& added = edit.added_names;
  if (!added.empty()) {
    for (size_t slot = hash & (added.size() - 1); added[slot].tensor >= 0;
         slot = (slot + 1) & (added.size() - 1)) {
      if (added[slot].hash == hash && edit.tensors[added[slot].tensor].name == name) return true;
    }
  }
  if (!edit.source_names_tagged && EditTagged(name)) return false;
  return model_assembly::HasTensorNamed(*edit.source, name, hash);
}

// A name no tensor has, for the tensor about to be added (the next index):
// `base`, else base_1, base_2, ...
std::string UniqueTensorName(EditableModel* edit, std::string base) {
  size_t hash = NameHash(base);
  if (!NameTaken(*edit, base, hash)) {
    InsertAddedName(edit, hash, static_cast<int>(edit->tensors.size()));
    return base;
  }
  std::string name;
  for (int i = 1;; ++i) {
    name = StrCat(base, "_", i);
    hash = NameHash(name);
    if (!NameTaken(*edit, name, hash)) break;
  }
  InsertAddedName(edit, hash, static_cast<int>(edit->tensors.size()));
  return name;
}

// Drops the tensors from `count` on (made by an edit that then failed).
void DropTensorsFrom(EditableModel* edit, size_t count, size_t storage_count) {
  std::vector<EditableModel::AddedName> old = std::move(edit->added_names);
  edit->added_names.assign(old.size(), {});
  edit->added_count = 0;
  for (const EditableModel::AddedName& entry : old) {
    if (entry.tensor >= 0 && entry.tensor < static_cast<int>(count)) {
      InsertAddedName(edit, entry.hash, entry.tensor);
    }
  }
  edit->tensors.resize(count);
  edit->storage.resize(storage_count);
}

// Room for `extra` more tensors: references to tensors an edit takes before
// it adds its own stay valid through the edit (and a replay of many edits
// moves the tensors a few times, not once per edit).
void ReserveTensors(EditableModel* edit, size_t extra) {
  std::vector<Tensor>& tensors = edit->tensors;
  if (tensors.capacity() - tensors.size() < extra) {
    tensors.reserve(std::max(tensors.size() + extra, 2 * tensors.capacity()));
  }
}

int AddActivation(EditableModel* edit, std::string name, std::vector<int64_t> shape,
                  DataType type) {
  Tensor tensor;
  tensor.name = UniqueTensorName(edit, std::move(name));
  tensor.type = type;
  tensor.shape = std::move(shape);
  edit->tensors.push_back(std::move(tensor));
  return static_cast<int>(edit->tensors.size()) - 1;
}

// Bytes of a constant made by an edit: a range of an existing constant's
// bytes (borrowed: they live in the source model or in `storage`; strided
// when row_stride is not 0, see Tensor::row_stride), or new bytes `owner`
// holds.
struct ConstantBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  int64_t row_stride = 0;
  std::shared_ptr<const void> owner;  // null when borrowed
};

int AddConstant(EditableModel* edit, std::string name, std::vector<int64_t> shape,
                ConstantBytes bytes) {
  Tensor tensor;
  tensor.name = UniqueTensorName(edit, std::move(name));
  tensor.type = DataType::kFloat32;
  tensor.shape = std::move(shape);
  tensor.data = bytes.data;
  tensor.data_bytes = bytes.size;
  tensor.row_stride = bytes.row_stride;
  if (bytes.owner != nullptr) edit->storage.push_back(std::move(bytes.owner));
  edit->tensors.push_back(std::move(tensor));
  return static_cast<int>(edit->tensors.size()) - 1;
}

// The rows (runs along the last axis) of a float constant: how many, how
// wide, and how far apart (in floats).
struct Rows {
  int64_t count = 0;
  int64_t width = 0;
  int64_t stride = 0;
};

Rows RowsOf(const Tensor& tensor) {
  Rows rows;
  rows.width = tensor.shape.empty() ? 1 : tensor.shape.back();
  rows.count = rows.width == 0 ? 0 : tensor.num_elements() / rows.width;
  rows.stride = tensor.is_dense() ? rows.width : tensor.row_stride;
  return rows;
}

// Bytes from the first element of `count` rows of `width` floats, `stride`
// floats apart, to the end of the last.
size_t SpanBytes(int64_t count, int64_t width, int64_t stride) {
  return count == 0 ? 0 : static_cast<size_t>((count - 1) * stride + width) * sizeof(float);
}

// Elements [begin, begin + count) along the first axis of a float constant:
// whole rows, so borrowed (strided as the constant is).
ConstantBytes SliceFirstAxis(const Tensor& tensor, int64_t begin, int64_t count) {
  if (tensor.shape.size() <= 1) {  // the first axis is the last: a range of one row
    return {tensor.data + begin * sizeof(float), static_cast<size_t>(count) * sizeof(float), 0,
            nullptr};
  }
  const Rows rows = RowsOf(tensor);
  const int64_t first = tensor.shape.front();
  const int64_t rows_per_index = first == 0 ? 0 : rows.count / first;
  const int64_t sliced_rows = count * rows_per_index;
  return {tensor.data + static_cast<size_t>(begin * rows_per_index * rows.stride) * sizeof(float),
          SpanBytes(sliced_rows, rows.width, rows.stride),
          tensor.is_dense() || sliced_rows <= 1 ? 0 : rows.stride, nullptr};
}

// Elements [begin, begin + count) along the last axis of a float constant,
// borrowed: one range when the constant is a single row, else strided rows
// (Tensor::row_stride). What a channel-wise edit makes of the weights of
// each partial convolution: no copy, so a plan cache hit replays its recipe
// without copying megabytes of weights; the convolution gathers them when
// it packs its weights (kernels/ops/conv2d.cc).
ConstantBytes SliceLastAxisView(const Tensor& tensor, int64_t begin, int64_t count) {
  const Rows rows = RowsOf(tensor);
  const uint8_t* data = tensor.data + begin * sizeof(float);
  if (rows.count <= 1) {
    return {data, static_cast<size_t>(rows.count * count) * sizeof(float), 0, nullptr};
  }
  const bool dense = count == rows.stride;
  return {data, SpanBytes(rows.count, count, rows.stride), dense ? 0 : rows.stride, nullptr};
}

// The same range copied dense, row by row, when it is more than one row:
// for the constant operands of element-wise ops, whose kernels take dense
// constants only.
ConstantBytes SliceLastAxis(const Tensor& tensor, int64_t begin, int64_t count) {
  const Rows rows = RowsOf(tensor);
  if (rows.count <= 1) return SliceLastAxisView(tensor, begin, count);
  const size_t row_bytes = static_cast<size_t>(count) * sizeof(float);
  const size_t total = static_cast<size_t>(rows.count) * row_bytes;
  std::shared_ptr<uint8_t[]> out(new uint8_t[total]);  // filled below
  for (int64_t r = 0; r < rows.count; ++r) {
    std::memcpy(out.get() + r * row_bytes,
                tensor.data + static_cast<size_t>(r * rows.stride + begin) * sizeof(float),
                row_bytes);
  }
  const uint8_t* data = out.get();
  return {data, total, 0, std::shared_ptr<const void>(std::move(out), data)};
}

std::vector<int> ConsumersOf(const EditableModel& edit, int tensor) {
  return edit.operators.ConsumersOf(tensor);
}

int ProducerOf(const EditableModel& edit, int tensor) {
  return edit.operators.ProducerOf(tensor);
}

bool IsGraphOutput(const EditableModel& edit, int tensor) {
  return std::find(edit.outputs.begin(), edit.outputs.end(), tensor) !=
         edit.outputs.end();
}

std::string OpLabel(const EditableModel& edit, int op) {
  const Operator& o = edit.operators[op];
  return o.name.empty() ? StrCat(OpTypeName(o.type), "#", op)
                        : o.name;
}

Status CheckPermutation(const std::vector<int>& order, size_t n) {
  if (order.size() != n) {
    return InvalidArgumentError("order has ", order.size(), " entries, expected ", n);
  }
  // n entries, each in range and seen once. A bit mask for the usual few
  // entries (no allocation per edit a recipe replays), else a vector.
  uint64_t seen_few = 0;
  std::vector<bool> seen_many(n > 64 ? n : 0, false);
  for (int i : order) {
    bool seen = false;
    if (i >= 0 && static_cast<size_t>(i) < n) {
      if (n <= 64) {
        seen = (seen_few >> i) & 1;
        seen_few |= uint64_t{1} << i;
      } else {
        seen = seen_many[i];
        seen_many[i] = true;
      }
    }
    if (i < 0 || static_cast<size_t>(i) >= n || seen) {
      return InvalidArgumentError("order is not a permutation of 0..", n - 1);
    }
  }
  return Status::Ok();
}

// Replaces operator `at` by `replacement`; removes the concat `concat_op`
// (< at) when nothing reads its output any more.
void Splice(EditableModel* edit, int at, std::vector<Operator> replacement,
            int concat_op) {
  edit->operators.Erase(at);
  edit->operators.Insert(at, std::move(replacement));
  if (concat_op >= 0) {
    const int c = edit->operators[concat_op].outputs[0];
    if (!edit->operators.HasConsumers(c) && !IsGraphOutput(*edit, c)) {
      edit->operators.Erase(concat_op);
    }
  }
}

// A channel (last-axis) concat of activations.
Status CheckChannelConcat(const EditableModel& edit, int concat_op) {
  if (concat_op < 0 || concat_op >= static_cast<int>(edit.operators.size())) {
    return InvalidArgumentError("operator ", concat_op, " does not exist");
  }
  const Operator& concat = edit.operators[concat_op];
  if (concat.type != OpType::kConcat || concat.outputs.size() != 1) {
    return InvalidArgumentError("operator ", OpLabel(edit, concat_op), " is not a Concat");
  }
  const Tensor& c = edit.tensors[concat.outputs[0]];
  const auto* attrs = std::get_if<ConcatAttrs>(&concat.attrs);
  if (attrs == nullptr || c.shape.empty() ||
      attrs->axis != static_cast<int>(c.shape.size()) - 1) {
    return InvalidArgumentError("Concat ", OpLabel(edit, concat_op),
                                " is not on the last (channel) axis");
  }
  for (int x : concat.inputs) {
    if (x < 0 || edit.tensors[x].is_constant() ||
        edit.tensors[x].type != DataType::kFloat32) {
      return InvalidArgumentError("Concat ", OpLabel(edit, concat_op),
                                  " has an input that is not a float activation");
    }
  }
  return Status::Ok();
}

Status ApplyPartialSum(EditableModel* edit, int add_op, std::vector<int> order) {
  if (add_op < 0 || add_op >= static_cast<int>(edit->operators.size())) {
    return InvalidArgumentError("operator ", add_op, " does not exist");
  }
  // References stay valid up to the Splice (ReserveTensors).
  const Operator& add = edit->operators[add_op];
  if (add.type != OpType::kAdd || add.inputs.size() < 3 || add.outputs.size() != 1) {
    return InvalidArgumentError("operator ", OpLabel(*edit, add_op),
                                " is not an Add of 3 or more inputs");
  }
  ReserveTensors(edit, add.inputs.size());
  const int add_output = add.outputs[0];
  const Tensor& out = edit->tensors[add_output];
  for (int x : add.inputs) {
    if (x < 0 || edit->tensors[x].shape != out.shape) {
      return InvalidArgumentError("Add ", OpLabel(*edit, add_op),
                                  " broadcasts: inputs differ in shape");
    }
  }
  if (order.empty()) order = IdentityOrder(add.inputs.size());
  SERENITY_RETURN_IF_ERROR(CheckPermutation(order, add.inputs.size()));
  const Activation activation = std::get<ElementwiseAttrs>(add.attrs).activation;
  const std::string& base = add.name.empty() ? out.name : add.name;
  std::vector<Operator> chain;
  int accumulator = add.inputs[order[0]];
  const size_t n = add.inputs.size();
  chain.reserve(n - 1);
  for (size_t j = 1; j < n; ++j) {
    const bool last = j + 1 == n;
    const int sum =
        last ? add_output : AddActivation(edit, StrCat(out.name, "/sum", j), out.shape, out.type);
    Operator step;
    step.type = OpType::kAdd;
    step.name = last ? add.name : StrCat(base, "/sum", j);
    step.inputs = {accumulator, add.inputs[order[j]]};
    step.outputs = {sum};
    step.attrs = ElementwiseAttrs{last ? activation : Activation::kNone};
    chain.push_back(std::move(step));
    accumulator = sum;
  }
  Splice(edit, add_op, std::move(chain), -1);
  if (edit->keep_log) {
    edit->log.push_back({RewriteEdit::Kind::kPartialSum, add_output, -1, std::move(order)});
  }
  return Status::Ok();
}

Status ApplyChannelWise(EditableModel* edit, int concat_op, int conv_op,
                        std::vector<int> order) {
  SERENITY_RETURN_IF_ERROR(CheckChannelConcat(*edit, concat_op));
  if (conv_op <= concat_op || conv_op >= static_cast<int>(edit->operators.size())) {
    return InvalidArgumentError("operator ", conv_op, " does not follow the concat");
  }
  // References stay valid up to the Splice (ReserveTensors).
  const Operator& concat = edit->operators[concat_op];
  const Operator& conv = edit->operators[conv_op];
  const int c = concat.outputs[0];
  if (conv.type != OpType::kConv2D || conv.inputs.size() < 2 || conv.inputs[0] != c ||
      conv.inputs[1] == c || (conv.inputs.size() > 2 && conv.inputs[2] == c)) {
    return InvalidArgumentError("operator ", OpLabel(*edit, conv_op),
                                " is not a Conv2D reading the concat as its input");
  }
  const Conv2DAttrs attrs = std::get<Conv2DAttrs>(conv.attrs);
  ReserveTensors(edit, 3 * concat.inputs.size());
  const Tensor& weights = edit->tensors[conv.inputs[1]];
  const int64_t channels = edit->tensors[c].shape.back();
  if (attrs.groups != 1 || !weights.is_constant() || weights.shape.size() != 4 ||
      weights.shape[3] != channels || weights.type != DataType::kFloat32) {
    return InvalidArgumentError("Conv2D ", OpLabel(*edit, conv_op),
                                " is grouped or has non-constant weights");
  }
  const int bias = conv.inputs.size() > 2 ? conv.inputs[2] : -1;
  const size_t k = concat.inputs.size();
  if (order.empty()) order = IdentityOrder(k);
  SERENITY_RETURN_IF_ERROR(CheckPermutation(order, k));
  const int z = conv.outputs[0];
  const Tensor& out = edit->tensors[z];
  const std::string& base = conv.name.empty() ? out.name : conv.name;
  std::vector<Operator> ops;
  ops.reserve(2 * k);
  int accumulator = -1;
  for (size_t j = 0; j < k; ++j) {
    const int branch = order[j];
    const int x = concat.inputs[branch];
    const int64_t width = edit->tensors[x].shape.back();
    int64_t offset = 0;  // of the branch's channels in the concat
    for (int i = 0; i < branch; ++i) offset += edit->tensors[concat.inputs[i]].shape.back();
    const int w = AddConstant(edit, StrCat(weights.name, "/part", branch),
                              {weights.shape[0], weights.shape[1], weights.shape[2], width},
                              SliceLastAxisView(weights, offset, width));
    const bool last = j + 1 == k;
    Operator partial;
    partial.type = OpType::kConv2D;
    partial.name = StrCat(base, "/part", branch);
    partial.inputs = {x, w, j == 0 ? bias : -1};
    Conv2DAttrs partial_attrs = attrs;
    partial_attrs.activation = k == 1 ? attrs.activation : Activation::kNone;
    partial.attrs = partial_attrs;
    if (j == 0) {
      accumulator =
          k == 1 ? z : AddActivation(edit, StrCat(out.name, "/acc", 0), out.shape, out.type);
      partial.outputs = {accumulator};
      ops.push_back(std::move(partial));
      continue;
    }
    const int term = AddActivation(edit, StrCat(out.name, "/part", branch), out.shape, out.type);
    partial.outputs = {term};
    ops.push_back(std::move(partial));
    const int sum =
        last ? z : AddActivation(edit, StrCat(out.name, "/acc", j), out.shape, out.type);
    Operator add;
    add.type = OpType::kAdd;
    add.name = last ? conv.name : StrCat(base, "/acc", j);
    add.inputs = {accumulator, term};
    add.outputs = {sum};
    add.attrs = ElementwiseAttrs{last ? attrs.activation : Activation::kNone};
    ops.push_back(std::move(add));
    accumulator = sum;
  }
  Splice(edit, conv_op, std::move(ops), concat_op);
  if (edit->keep_log) {
    edit->log.push_back({RewriteEdit::Kind::kChannelWise, c, z, std::move(order)});
  }
  return Status::Ok();
}

// Whether `op` works channel by channel with `c` (channels `channels`) as
// its activation input at `input`; constants must be per-channel or scalar.
bool ChannelSeparable(const EditableModel& edit, const Operator& op, int c,
                      int64_t channels) {
  if (op.outputs.size() != 1 || op.inputs.empty()) return false;
  const Tensor& in = edit.tensors[c];
  switch (op.type) {
    case OpType::kRelu:
    case OpType::kClamp:
    case OpType::kSigmoid:
    case OpType::kHardSwish:
      return op.inputs.size() == 1 && op.inputs[0] == c;
    case OpType::kMaxPool2D:
    case OpType::kAveragePool2D:
    case OpType::kGlobalAveragePool:
      return op.inputs.size() == 1 && op.inputs[0] == c && in.shape.size() == 4;
    case OpType::kSlice: {
      // A box that keeps every channel (DARTS shifts a pixel this way).
      const auto* attrs = std::get_if<SliceAttrs>(&op.attrs);
      return op.inputs.size() == 1 && op.inputs[0] == c && attrs != nullptr &&
             attrs->begin.size() == in.shape.size() && !attrs->begin.empty() &&
             attrs->begin.back() == 0 && attrs->size.back() == channels;
    }
    case OpType::kConv2D: {
      if (op.inputs[0] != c || op.inputs.size() < 2 || in.shape.size() != 4) return false;
      const Conv2DAttrs& attrs = std::get<Conv2DAttrs>(op.attrs);
      const Tensor& w = edit.tensors[op.inputs[1]];
      if (op.inputs[1] == c || !w.is_constant() || w.type != DataType::kFloat32) return false;
      if (op.inputs.size() > 2 && op.inputs[2] >= 0 &&
          (op.inputs[2] == c || !edit.tensors[op.inputs[2]].is_constant())) {
        return false;
      }
      return attrs.groups == channels && w.shape.size() == 4 && w.shape[0] == channels &&
             w.shape[3] == 1;
    }
    case OpType::kMul:
    case OpType::kAdd: {
      if (op.inputs.size() != 2 || (op.inputs[0] == c) == (op.inputs[1] == c)) return false;
      const Tensor& constant = edit.tensors[op.inputs[0] == c ? op.inputs[1] : op.inputs[0]];
      if (!constant.is_constant() || constant.type != DataType::kFloat32) return false;
      if (constant.shape.size() > in.shape.size()) return false;
      for (size_t d = 0; d + 1 < constant.shape.size(); ++d) {
        if (constant.shape[d] != 1) return false;
      }
      const int64_t last = constant.shape.empty() ? 1 : constant.shape.back();
      return last == 1 || last == channels;
    }
    default:
      return false;
  }
}

Status ApplyKernelWise(EditableModel* edit, int concat_op, int consumer_op) {
  SERENITY_RETURN_IF_ERROR(CheckChannelConcat(*edit, concat_op));
  if (consumer_op <= concat_op || consumer_op >= static_cast<int>(edit->operators.size())) {
    return InvalidArgumentError("operator ", consumer_op, " does not follow the concat");
  }
  // References stay valid up to the Splice (ReserveTensors).
  const Operator& concat = edit->operators[concat_op];
  const Operator& op = edit->operators[consumer_op];
  const int c = concat.outputs[0];
  const int64_t channels = edit->tensors[c].shape.back();
  if (!ChannelSeparable(*edit, op, c, channels)) {
    return InvalidArgumentError("operator ", OpLabel(*edit, consumer_op),
                                " is not a channel-separable op on the concat");
  }
  const size_t k = concat.inputs.size();
  ReserveTensors(edit, 3 * k);
  const int z = op.outputs[0];
  const Tensor& out = edit->tensors[z];
  const std::string& base = op.name.empty() ? out.name : op.name;
  // Undone if a branch's shapes do not infer (tensors added so far).
  const size_t tensors_before = edit->tensors.size();
  const size_t storage_before = edit->storage.size();
  std::vector<Operator> ops;
  ops.reserve(k + 1);
  std::vector<int> parts;
  parts.reserve(k);
  std::vector<std::vector<int64_t>> shapes(op.inputs.size());
  std::vector<const Tensor*> inputs(op.inputs.size());
  int64_t offset = 0;
  for (size_t i = 0; i < k; ++i) {
    const int x = concat.inputs[i];
    const int64_t width = edit->tensors[x].shape.back();
    Operator branch;
    branch.type = op.type;
    branch.name = StrCat(base, "/branch", i);
    branch.inputs = op.inputs;
    branch.outputs = op.outputs;  // for InferOutputShapes; replaced below
    branch.attrs = op.attrs;
    for (int& input : branch.inputs) {
      if (input == c) input = x;
    }
    if (op.type == OpType::kConv2D) {
      const Tensor& weights = edit->tensors[op.inputs[1]];
      branch.inputs[1] = AddConstant(edit, StrCat(weights.name, "/branch", i),
                                     {width, weights.shape[1], weights.shape[2], 1},
                                     SliceFirstAxis(weights, offset, width));
      if (op.inputs.size() > 2 && op.inputs[2] >= 0) {
        const Tensor& bias = edit->tensors[op.inputs[2]];
        branch.inputs[2] = AddConstant(edit, StrCat(bias.name, "/branch", i), {width},
                                       SliceFirstAxis(bias, offset, width));
      }
      std::get<Conv2DAttrs>(branch.attrs).groups = static_cast<int>(width);
    } else if (op.type == OpType::kSlice) {
      std::get<SliceAttrs>(branch.attrs).size.back() = width;
    } else if (op.type == OpType::kMul || op.type == OpType::kAdd) {
      const int which = op.inputs[0] == c ? 1 : 0;
      const Tensor& constant = edit->tensors[op.inputs[which]];
      if (!constant.shape.empty() && constant.shape.back() == channels && channels != 1) {
        std::vector<int64_t> shape = constant.shape;
        shape.back() = width;
        branch.inputs[which] = AddConstant(edit, StrCat(constant.name, "/branch", i), shape,
                                           SliceLastAxis(constant, offset, width));
      }
    }
    // The shapes are assigned, not pushed: each keeps its capacity from the
    // last branch.
    for (size_t in = 0; in < branch.inputs.size(); ++in) {
      const int input = branch.inputs[in];
      if (input >= 0) {
        shapes[in].assign(edit->tensors[input].shape.begin(), edit->tensors[input].shape.end());
      } else {
        shapes[in].clear();
      }
      inputs[in] = input >= 0 ? &edit->tensors[input] : nullptr;
    }
    Result<std::vector<std::vector<int64_t>>> inferred =
        InferOutputShapes(branch, shapes, inputs);
    if (!inferred.ok()) {
      DropTensorsFrom(edit, tensors_before, storage_before);
      return inferred.status();
    }
    const int y = AddActivation(edit, StrCat(out.name, "/branch", i),
                                std::move(inferred.value().at(0)), out.type);
    branch.outputs = {y};
    parts.push_back(y);
    ops.push_back(std::move(branch));
    offset += width;
  }
  Operator join;
  join.type = OpType::kConcat;
  join.name = base + "/concat";
  join.inputs = std::move(parts);
  join.outputs = {z};
  join.attrs = ConcatAttrs{static_cast<int>(out.shape.size()) - 1};
  ops.push_back(std::move(join));
  Splice(edit, consumer_op, std::move(ops), concat_op);
  if (edit->keep_log) edit->log.push_back({RewriteEdit::Kind::kKernelWise, c, z, {}});
  return Status::Ok();
}

// The geometry of a shifted subsample: Pad (value 0) -> Slice (every batch
// and channel) -> 1x1 Max/AveragePool2D (no padding) reads x[b + s*i - top]
// along each spatial axis, or 0 where that is outside x. A depthwise Conv2D
// with a one-hot kernel reads the same element: weight 1 at tap `b - top +
// pad` (so the kernel is tap + 1 wide), its own zero padding in front when
// b < top and behind as far as the last window needs.
struct ShiftedSubsample {
  int pad_op = -1, slice_op = -1;
  int x = -1;
  int64_t channels = 0;
  int64_t kernel_h = 0, kernel_w = 0, tap_h = 0, tap_w = 0;
  Conv2DAttrs attrs;
};

// The conv's padding in front, tap and padding behind along one axis, or
// false when the window would be wider than kMaxShiftTap + 1.
constexpr int64_t kMaxShiftTap = 2;
bool ShiftAxis(int64_t in, int64_t pad_before, int64_t begin, int64_t stride, int64_t out,
               int64_t* kernel, int64_t* tap, int* conv_before, int* conv_after) {
  const int64_t shift = begin - pad_before;  // x index of output 0
  const int64_t before = shift < 0 ? -shift : 0;
  *tap = shift + before;
  if (*tap > kMaxShiftTap || stride < 1 || out < 1) return false;
  *kernel = *tap + 1;
  const int64_t after = std::max<int64_t>(0, stride * (out - 1) + *kernel - (in + before));
  if ((in + before + after - *kernel) / stride + 1 != out) return false;
  *conv_before = static_cast<int>(before);
  *conv_after = static_cast<int>(after);
  return true;
}

// The shifted subsample ending in pool `pool_op` (see ShiftedSubsample).
Result<ShiftedSubsample> MatchShiftedSubsample(const EditableModel& edit, int pool_op) {
  if (pool_op < 0 || pool_op >= static_cast<int>(edit.operators.size())) {
    return InvalidArgumentError("operator ", pool_op, " does not exist");
  }
  const Operator& pool = edit.operators[pool_op];
  const auto* pool_attrs = std::get_if<Pool2DAttrs>(&pool.attrs);
  if ((pool.type != OpType::kAveragePool2D && pool.type != OpType::kMaxPool2D) ||
      pool_attrs == nullptr || pool.inputs.size() != 1 || pool.outputs.size() != 1 ||
      pool_attrs->filter_h != 1 || pool_attrs->filter_w != 1 || pool_attrs->pad_top != 0 ||
      pool_attrs->pad_bottom != 0 || pool_attrs->pad_left != 0 || pool_attrs->pad_right != 0) {
    return InvalidArgumentError("operator ", OpLabel(edit, pool_op),
                                " is not a 1x1 pooling without padding");
  }
  ShiftedSubsample site;
  const int s = pool.inputs[0];
  site.slice_op = s < 0 ? -1 : ProducerOf(edit, s);
  const Operator* slice = site.slice_op < 0 ? nullptr : &edit.operators[site.slice_op];
  const auto* slice_attrs = slice == nullptr ? nullptr : std::get_if<SliceAttrs>(&slice->attrs);
  if (slice == nullptr || slice->type != OpType::kSlice || slice_attrs == nullptr ||
      slice->inputs.size() != 1 || slice->inputs[0] < 0 || IsGraphOutput(edit, s) ||
      edit.operators.ConsumersOf(s).size() != 1) {
    return InvalidArgumentError("the input of ", OpLabel(edit, pool_op),
                                " is not a Slice read by it alone");
  }
  const int p = slice->inputs[0];
  site.pad_op = ProducerOf(edit, p);
  const Operator* pad = site.pad_op < 0 ? nullptr : &edit.operators[site.pad_op];
  const auto* pad_attrs = pad == nullptr ? nullptr : std::get_if<PadAttrs>(&pad->attrs);
  if (pad == nullptr || pad->type != OpType::kPad || pad_attrs == nullptr ||
      pad->inputs.empty() || pad->inputs[0] < 0 || IsGraphOutput(edit, p) ||
      edit.operators.ConsumersOf(p).size() != 1) {
    return InvalidArgumentError("the input of ", OpLabel(edit, site.slice_op),
                                " is not a Pad read by it alone");
  }
  for (size_t i = 1; i < pad->inputs.size(); ++i) {
    if (pad->inputs[i] >= 0) {
      return InvalidArgumentError("Pad ", OpLabel(edit, site.pad_op), " has a second input");
    }
  }
  site.x = pad->inputs[0];
  const Tensor& x = edit.tensors[site.x];
  const Tensor& y = edit.tensors[pool.outputs[0]];
  if (x.is_constant() || x.type != DataType::kFloat32 || x.shape.size() != 4 ||
      y.type != DataType::kFloat32 || y.shape.size() != 4 ||
      edit.tensors[p].type != DataType::kFloat32 || edit.tensors[s].type != DataType::kFloat32) {
    return InvalidArgumentError("Pad ", OpLabel(edit, site.pad_op),
                                " does not pad a float NHWC activation");
  }
  const std::vector<int64_t>& paddings = pad_attrs->paddings;
  if (pad_attrs->value != 0.0f || paddings.size() != 8 || paddings[0] != 0 || paddings[1] != 0 ||
      paddings[6] != 0 || paddings[7] != 0 || slice_attrs->begin.size() != 4 ||
      slice_attrs->size.size() != 4 || slice_attrs->begin[0] != 0 || slice_attrs->begin[3] != 0 ||
      slice_attrs->size[0] != x.shape[0] || slice_attrs->size[3] != x.shape[3] ||
      y.shape[0] != x.shape[0] || y.shape[3] != x.shape[3]) {
    return InvalidArgumentError("Pad ", OpLabel(edit, site.pad_op), " and Slice ",
                                OpLabel(edit, site.slice_op),
                                " do not keep every batch and channel and pad with zeros");
  }
  site.channels = x.shape[3];
  Conv2DAttrs& attrs = site.attrs;
  attrs.stride_h = pool_attrs->stride_h;
  attrs.stride_w = pool_attrs->stride_w;
  attrs.groups = static_cast<int>(site.channels);
  if (!ShiftAxis(x.shape[1], paddings[2], slice_attrs->begin[1], attrs.stride_h, y.shape[1],
                 &site.kernel_h, &site.tap_h, &attrs.pad_top, &attrs.pad_bottom) ||
      !ShiftAxis(x.shape[2], paddings[4], slice_attrs->begin[2], attrs.stride_w, y.shape[2],
                 &site.kernel_w, &site.tap_w, &attrs.pad_left, &attrs.pad_right)) {
    return InvalidArgumentError("Pad ", OpLabel(edit, site.pad_op), " -> ",
                                OpLabel(edit, pool_op), " shifts by more than ", kMaxShiftTap,
                                " or does not match a convolution's output size");
  }
  return site;
}

// Replaces Pad -> Slice -> 1x1 pool (ending in `pool_op`) by one depthwise
// Conv2D of x with a one-hot kernel, writing the pool's output: neither the
// padded nor the sliced tensor exists any more.
Status ApplyShiftedSubsample(EditableModel* edit, int pool_op) {
  SERENITY_ASSIGN_OR_RETURN(ShiftedSubsample site, MatchShiftedSubsample(*edit, pool_op));
  const Operator& pool = edit->operators[pool_op];
  const int y = pool.outputs[0];
  const int64_t positions = site.kernel_h * site.kernel_w;
  const size_t count = static_cast<size_t>(site.channels * positions);
  std::shared_ptr<float[]> weights(new float[count]());
  const int64_t hot = site.tap_h * site.kernel_w + site.tap_w;
  for (int64_t c = 0; c < site.channels; ++c) weights[c * positions + hot] = 1.0f;
  const uint8_t* data = reinterpret_cast<const uint8_t*>(weights.get());
  ReserveTensors(edit, 1);
  const int w = AddConstant(
      edit, edit->tensors[y].name + "/shift_weights", {site.channels, site.kernel_h, site.kernel_w, 1},
      {data, count * sizeof(float), 0, std::shared_ptr<const void>(std::move(weights), data)});
  Operator conv;
  conv.type = OpType::kConv2D;
  conv.name = pool.name.empty() ? edit->tensors[y].name + "/shift" : pool.name + "/shift";
  conv.inputs = {site.x, w};
  conv.outputs = {y};
  conv.attrs = site.attrs;
  // The pool follows the slice, which follows the pad: erase from the back.
  std::vector<Operator> replacement;
  replacement.push_back(std::move(conv));
  edit->operators.Erase(pool_op);
  edit->operators.Insert(pool_op, std::move(replacement));
  edit->operators.Erase(site.slice_op);
  edit->operators.Erase(site.pad_op);
  if (edit->keep_log) edit->log.push_back({RewriteEdit::Kind::kShiftedSubsample, y, -1, {}});
  return Status::Ok();
}

bool AttrsEqual(const OpAttrs& a, const OpAttrs& b) {
  if (a.index() != b.index()) return false;
  if (std::holds_alternative<NoAttrs>(a)) return true;
  if (const auto* x = std::get_if<ClampAttrs>(&a)) {
    const auto& y = std::get<ClampAttrs>(b);
    return x->min == y.min && x->max == y.max;
  }
  if (const auto* x = std::get_if<ElementwiseAttrs>(&a)) {
    return x->activation == std::get<ElementwiseAttrs>(b).activation;
  }
  if (const auto* x = std::get_if<ConcatAttrs>(&a)) {
    return x->axis == std::get<ConcatAttrs>(b).axis;
  }
  if (const auto* x = std::get_if<Pool2DAttrs>(&a)) {
    const auto& y = std::get<Pool2DAttrs>(b);
    return x->filter_h == y.filter_h && x->filter_w == y.filter_w &&
           x->stride_h == y.stride_h && x->stride_w == y.stride_w &&
           x->pad_top == y.pad_top && x->pad_bottom == y.pad_bottom &&
           x->pad_left == y.pad_left && x->pad_right == y.pad_right &&
           x->count_include_pad == y.count_include_pad;
  }
  if (const auto* x = std::get_if<Conv2DAttrs>(&a)) {
    const auto& y = std::get<Conv2DAttrs>(b);
    return x->stride_h == y.stride_h && x->stride_w == y.stride_w &&
           x->dilation_h == y.dilation_h && x->dilation_w == y.dilation_w &&
           x->pad_top == y.pad_top && x->pad_bottom == y.pad_bottom &&
           x->pad_left == y.pad_left && x->pad_right == y.pad_right &&
           x->groups == y.groups && x->activation == y.activation;
  }
  return false;
}

// Two operators compute the same tensor: same kind, attributes and inputs.
bool Duplicates(const EditableModel& edit, int a, int b) {
  const Operator& x = edit.operators[a];
  const Operator& y = edit.operators[b];
  return x.type == y.type && x.inputs == y.inputs && x.outputs.size() == 1 &&
         y.outputs.size() == 1 && AttrsEqual(x.attrs, y.attrs) &&
         edit.tensors[x.outputs[0]].shape == edit.tensors[y.outputs[0]].shape &&
         !IsGraphOutput(edit, y.outputs[0]);
}

// Removes operator `duplicate` (which repeats `kept`, earlier), reading
// `kept`'s output wherever its own was read.
Status ApplyMergeDuplicate(EditableModel* edit, int kept, int duplicate) {
  const int n = static_cast<int>(edit->operators.size());
  if (kept < 0 || duplicate <= kept || duplicate >= n || !Duplicates(*edit, kept, duplicate)) {
    return InvalidArgumentError("operators ", kept, " and ", duplicate,
                                " do not compute the same tensor");
  }
  const int from = edit->operators[duplicate].outputs[0];
  const int to = edit->operators[kept].outputs[0];
  edit->operators.Erase(duplicate);
  edit->operators.ReplaceInput(from, to);
  if (edit->keep_log) edit->log.push_back({RewriteEdit::Kind::kMergeDuplicate, to, from, {}});
  return Status::Ok();
}

struct MaterialisedModel {
  Model model;
  std::vector<int> new_index;  // per editable tensor, -1 if dropped
};

// The tensor numbering of the model `edit` materialises to: the graph inputs
// first, in order, then every other tensor an operator or the graph outputs
// use, in editable order; -1 for tensors nothing uses any more. Shared by
// Materialise (through the builder) and ReplayRewrites, so both number alike.
std::vector<int> MaterialNumbering(const EditableModel& edit, int* count) {
  std::vector<bool> used(edit.tensors.size(), false);
  for (int o = 0; o < static_cast<int>(edit.operators.size()); ++o) {
    const Operator& op = edit.operators[o];
    for (int t : op.inputs) {
      if (t >= 0) used[t] = true;
    }
    for (int t : op.outputs) used[t] = true;
  }
  for (int t : edit.outputs) used[t] = true;
  std::vector<int> new_index(edit.tensors.size(), -1);
  int next = 0;
  for (int t : edit.inputs) new_index[t] = next++;
  for (size_t t = 0; t < edit.tensors.size(); ++t) {
    if (used[t] && new_index[t] < 0) new_index[t] = next++;
  }
  *count = next;
  return new_index;
}

Result<MaterialisedModel> Materialise(const EditableModel& edit) {
  int count = 0;
  const std::vector<int> new_index = MaterialNumbering(edit, &count);
  std::vector<int> tensor_at(count, -1);
  for (size_t t = 0; t < new_index.size(); ++t) {
    if (new_index[t] >= 0) tensor_at[new_index[t]] = static_cast<int>(t);
  }
  ModelBuilder builder(edit.name);
  builder.SetDescription(edit.description);
  for (const auto& [key, value] : edit.metadata) builder.AddMetadata(key, value);
  for (int t : edit.inputs) {
    const Tensor& tensor = edit.tensors[t];
    builder.AddInput(tensor.name, tensor.shape, tensor.type);
  }
  for (int n = static_cast<int>(edit.inputs.size()); n < count; ++n) {
    const Tensor& tensor = edit.tensors[tensor_at[n]];
    if (tensor.is_constant()) {
      builder.AddConstantBytes(tensor.name, tensor.shape, tensor.type, tensor.DenseData());
    } else {
      builder.AddActivation(tensor.name, tensor.shape, tensor.type);
    }
  }
  for (int n = 0; n < count; ++n) {
    builder.tensors()[n].quantization = edit.tensors[tensor_at[n]].quantization;
  }
  for (int o = 0; o < static_cast<int>(edit.operators.size()); ++o) {
    const Operator& op = edit.operators[o];
    std::vector<int> inputs;
    for (int t : op.inputs) inputs.push_back(t >= 0 ? new_index[t] : -1);
    std::vector<int> outputs;
    for (int t : op.outputs) outputs.push_back(new_index[t]);
    builder.AddOperator(op.type, op.name, std::move(inputs), std::move(outputs), op.attrs);
  }
  for (int t : edit.outputs) builder.MarkOutput(new_index[t]);
  SERENITY_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, builder.Finish());
  Result<Model> model = Model::FromBuffer(bytes.data(), bytes.size(),
                                          StrCat("rewritten ", edit.name));
  if (!model.ok()) {
    return model.status().WithContext("the rewritten model does not validate");
  }
  return MaterialisedModel{std::move(model).value(), std::move(new_index)};
}

Result<Model> ApplyAndMaterialise(const Model& model,
                                  const std::function<Status(EditableModel*)>& apply) {
  EditableModel edit = EditableFrom(model);
  SERENITY_RETURN_IF_ERROR(apply(&edit));
  SERENITY_ASSIGN_OR_RETURN(MaterialisedModel out, Materialise(edit));
  return std::move(out.model);
}

// Applies one edit of a recipe: finds its operators by the tensors they
// produce; the primitive checks the site's form.
Status ApplyEdit(EditableModel* edit, const RewriteEdit& step) {
  const int first_op = ProducerOf(*edit, step.first);
  if (first_op < 0) return InvalidArgumentError("no operator produces tensor ", step.first);
  if (step.kind == RewriteEdit::Kind::kPartialSum) {
    if (step.second != -1) return InvalidArgumentError("a partial sum names one tensor");
    return ApplyPartialSum(edit, first_op, step.order);
  }
  if (step.kind == RewriteEdit::Kind::kShiftedSubsample) {
    if (step.second != -1 || !step.order.empty()) {
      return InvalidArgumentError("a shifted subsample names one tensor and takes no order");
    }
    return ApplyShiftedSubsample(edit, first_op);
  }
  const int second_op = ProducerOf(*edit, step.second);
  if (second_op < 0) return InvalidArgumentError("no operator produces tensor ", step.second);
  switch (step.kind) {
    case RewriteEdit::Kind::kMergeDuplicate:
      if (!step.order.empty()) return InvalidArgumentError("a merge takes no order");
      return ApplyMergeDuplicate(edit, first_op, second_op);
    case RewriteEdit::Kind::kChannelWise:
      // An empty order would mean "as stored" to the primitive; a recipe
      // always says.
      if (step.order.empty()) return InvalidArgumentError("the order is missing");
      return ApplyChannelWise(edit, first_op, second_op, step.order);
    case RewriteEdit::Kind::kKernelWise:
      if (!step.order.empty()) return InvalidArgumentError("kernel-wise takes no order");
      return ApplyKernelWise(edit, first_op, second_op);
    case RewriteEdit::Kind::kPartialSum:
    case RewriteEdit::Kind::kShiftedSubsample:
      break;
  }
  return InvalidArgumentError("unknown edit kind ", static_cast<int>(step.kind));
}

// The Model of `edit`, numbered as Materialise numbers it, made in memory:
// tensors and operators are moved, constants stay where they are (the
// source model's, or `storage`, which the Model keeps).
Result<Model> Assemble(EditableModel edit, const Model& source) {
  int count = 0;
  const std::vector<int> new_index = MaterialNumbering(edit, &count);
  if (count > static_cast<int>(kMaxTensors) ||
      edit.operators.size() > static_cast<size_t>(kMaxOperators)) {
    return ResourceExhaustedError("the rewritten model would have ", count, " tensors and ",
                                  edit.operators.size(), " operators, more than the limits of ",
                                  kMaxTensors, " and ", kMaxOperators);
  }
  model_assembly::ModelParts parts;
  parts.source = StrCat("rewritten ", edit.name);
  parts.name = std::move(edit.name);
  parts.description = std::move(edit.description);
  parts.metadata = std::move(edit.metadata);
  // Usually the numbering only closes gaps (the inputs come first already):
  // then the tensors move down in place, else into a new vector.
  bool in_place = true;
  for (size_t t = 0, next = 0; t < new_index.size() && in_place; ++t) {
    if (new_index[t] >= 0) in_place = new_index[t] == static_cast<int>(next++);
  }
  if (in_place) {
    for (size_t t = 0; t < new_index.size(); ++t) {
      if (new_index[t] >= 0 && new_index[t] != static_cast<int>(t)) {
        edit.tensors[new_index[t]] = std::move(edit.tensors[t]);
      }
    }
    edit.tensors.resize(count);
    parts.tensors = std::move(edit.tensors);
  } else {
    parts.tensors.resize(count);
    for (size_t t = 0; t < new_index.size(); ++t) {
      if (new_index[t] >= 0) parts.tensors[new_index[t]] = std::move(edit.tensors[t]);
    }
  }
  parts.operators = std::move(edit.operators).TakeInOrder();
  for (Operator& op : parts.operators) {
    for (int& t : op.inputs) {
      if (t >= 0) t = new_index[t];
    }
    for (int& t : op.outputs) t = new_index[t];
  }
  for (int& t : edit.inputs) t = new_index[t];
  for (int& t : edit.outputs) t = new_index[t];
  parts.inputs = std::move(edit.inputs);
  parts.outputs = std::move(edit.outputs);
  parts.retained.assign(edit.storage.begin(), edit.storage.end());
  // Constants borrowed from the source stay valid after it is gone.
  parts.retained.push_back(model_assembly::StorageOf(source));
  parts.derived_from = &source;
  return model_assembly::AssembleModel(std::move(parts));
}

// ---------------------------------------------------------------------------
// Selection by measurement.

// A site, named by tensors (stable across edits): the concat's output and
// the consumer's output, or the Add's output.
struct Site {
  RewriteKind kind;
  int first = -1;   // concat output (or Add output for partial sums)
  int second = -1;  // consumer output
};

struct Measurement {
  uint64_t peak = 0;
  Schedule schedule;
  Graph graph;
  AliasPlan alias;
};

// `op` is a dense Conv2D reading the channel concat output `c` as input 0.
bool ChannelWiseTarget(const EditableModel& edit, int op, int c) {
  const Operator& conv = edit.operators[op];
  if (conv.type != OpType::kConv2D || conv.inputs.size() < 2 || conv.inputs[0] != c ||
      conv.inputs[1] == c || (conv.inputs.size() > 2 && conv.inputs[2] == c)) {
    return false;
  }
  const Tensor& w = edit.tensors[conv.inputs[1]];
  return std::get<Conv2DAttrs>(conv.attrs).groups == 1 && w.is_constant() &&
         edit.tensors[c].shape.size() == 4 && w.shape.size() == 4 &&
         w.shape[3] == edit.tensors[c].shape.back();
}

class Searcher {
 public:
  Searcher(const RewriteOptions& options) : options_(options) {
    start_ = std::chrono::steady_clock::now();
  }

  // The safety net: the wall clock ran out (the result then depends on the
  // machine, and says so).
  bool OutOfTime() {
    if (options_.time_limit_seconds <= 0) return false;
    if (Elapsed() > options_.time_limit_seconds) time_limited_ = true;
    return time_limited_;
  }
  bool OutOfWork() const { return work_ >= options_.work_limit; }
  uint64_t work() const { return work_; }
  bool time_limited() const { return time_limited_; }

  // The exact search's limits for a measurement: options.schedule's state
  // limit, or for a batch trial (every site of a kind at once: few of them,
  // and where most of the gain is) up to a third of the work left when that
  // is more. With a tenth of the budget RandWire's 34 partial sums were
  // rejected; with a third, memory_report shows both RandWire models at
  // 1.40x instead of 1.17x. The wall-clock limit is what is left of the
  // search's own.
  ScheduleOptions TrialSchedule(bool batch) const {
    ScheduleOptions schedule = options_.schedule;
    if (batch && schedule.state_limit > 0) {
      const uint64_t left = options_.work_limit > work_ ? options_.work_limit - work_ : 0;
      schedule.state_limit = std::max(schedule.state_limit, left / 3);
    }
    if (options_.time_limit_seconds > 0) {
      const double left = std::max(options_.time_limit_seconds - Elapsed(), 1e-6);
      if (schedule.time_limit_seconds <= 0 || schedule.time_limit_seconds > left) {
        schedule.time_limit_seconds = left;
      }
    }
    return schedule;
  }

  // A measurement's graph and aliasing plan, no order yet. copy_concats:
  // editable tensor indices of concat outputs kept as copies.
  Result<Measurement> GraphAndAliasing(const EditableModel& edit,
                                       const std::set<int>& copy_concats) const {
    Measurement m;
    const std::vector<Operator> operators = edit.operators.InOrder();
    const internal::ModelParts parts{&edit.tensors, &operators, &edit.inputs, &edit.outputs};
    m.graph = internal::GraphFromParts(parts);
    AliasOptions alias = options_.alias;
    alias.copy_concats.clear();
    for (int o = 0; o < static_cast<int>(operators.size()); ++o) {
      const Operator& op = operators[o];
      if (op.type == OpType::kConcat && copy_concats.count(op.outputs[0]) > 0) {
        alias.copy_concats.push_back(o);
      }
    }
    SERENITY_ASSIGN_OR_RETURN(
        m.alias, internal::PlanAliasingForParts(parts, m.graph, options_.capabilities, alias));
    return m;
  }

  // copy_concats: editable tensor indices of concat outputs kept as copies.
  Result<Measurement> Measure(const EditableModel& edit, const std::set<int>& copy_concats,
                              bool warm_start = false, const Measurement* previous = nullptr,
                              bool batch = false) {
    const ScheduleOptions schedule_options = TrialSchedule(batch);
    SERENITY_ASSIGN_OR_RETURN(Measurement m, GraphAndAliasing(edit, copy_concats));
    SERENITY_ASSIGN_OR_RETURN(m.schedule,
                              ComputeSchedule(m.graph, m.alias.memory, schedule_options));
    Charge(m.schedule.stats);
    m.peak = m.schedule.peak_bytes;
    if (!m.schedule.optimal && warm_start) {
      // An unproven search may miss the order found without aliasing, which
      // aliasing can only improve on in place (never worse per order).
      SERENITY_ASSIGN_OR_RETURN(
          Schedule plain, ComputeSchedule(m.graph, MemoryModel::WithoutAliasing(m.graph),
                                          TrialSchedule(false)));
      Charge(plain.stats);
      const uint64_t peak = PeakBytes(m.graph, m.alias.memory, plain.order);
      if (peak < m.peak) {
        m.schedule.order = std::move(plain.order);
        m.schedule.peak_bytes = m.peak = peak;
      }
    }
    if (!m.schedule.optimal && previous != nullptr) {
      // Likewise the previous best order carried over to the trial graph.
      std::vector<int> order = CarryOver(m.graph, *previous);
      const uint64_t peak = PeakBytes(m.graph, m.alias.memory, order);
      if (peak < m.peak) {
        m.schedule.order = std::move(order);
        m.schedule.peak_bytes = m.peak = peak;
      }
    }
    return m;
  }

  // The peak of `edit` under `reference`'s order carried over (CarryOver),
  // with no search: an upper bound on its optimal peak, in the time it
  // takes to build the graph and plan its aliasing. Charged as a
  // measurement's fixed part (kRewriteTrialWork).
  Result<Measurement> MeasureCarried(const EditableModel& edit, const std::set<int>& copy_concats,
                                     const Measurement& reference) {
    SERENITY_ASSIGN_OR_RETURN(Measurement m, GraphAndAliasing(edit, copy_concats));
    m.schedule.algorithm = reference.schedule.algorithm;
    m.schedule.order = CarryOver(m.graph, reference);
    m.schedule.peak_bytes = m.peak = PeakBytes(m.graph, m.alias.memory, m.schedule.order);
    work_ += kRewriteTrialWork;
    return m;
  }

  void Charge(const ScheduleStats& stats) {
    work_ += stats.states + kRewriteTrialWork;
    time_limited_ = time_limited_ || stats.time_limited;
  }

  double Elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  // A topological order of `graph` that follows `previous`'s order for the
  // operators it had (matched by name) and runs new ones as soon as their
  // inputs exist, so partial sums and partial convolutions free their inputs
  // early.
  static std::vector<int> CarryOver(const Graph& graph, const Measurement& previous) {
    std::unordered_map<std::string, double> step_of;
    for (size_t s = 0; s < previous.schedule.order.size(); ++s) {
      const GraphOp& op = previous.graph.ops[previous.schedule.order[s]];
      if (!op.name.empty()) step_of[op.name] = static_cast<double>(s);
    }
    const int n = static_cast<int>(graph.ops.size());
    std::vector<double> key(n, -1.0);
    std::vector<int> indegree(n, 0);
    for (int o = 0; o < n; ++o) {
      for (int t : graph.ops[o].inputs) {
        if (graph.tensors[t].producer >= 0) ++indegree[o];
      }
    }
    using Entry = std::pair<double, int>;
    std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> ready;
    auto key_of = [&](int o) {
      const auto it = graph.ops[o].name.empty() ? step_of.end() : step_of.find(graph.ops[o].name);
      if (it != step_of.end()) return it->second;
      double k = -1.0;
      for (int t : graph.ops[o].inputs) {
        const int producer = graph.tensors[t].producer;
        if (producer >= 0) k = std::max(k, key[producer]);
      }
      return k + 1e-3;
    };
    for (int o = 0; o < n; ++o) {
      if (indegree[o] == 0) ready.push({key[o] = key_of(o), o});
    }
    std::vector<int> order;
    while (!ready.empty()) {
      const int o = ready.top().second;
      ready.pop();
      order.push_back(o);
      for (int t : graph.ops[o].outputs) {
        for (int consumer : graph.tensors[t].consumers) {
          if (--indegree[consumer] == 0) ready.push({key[consumer] = key_of(consumer), consumer});
        }
      }
    }
    return order;
  }

  std::vector<Site> Sites(const EditableModel& edit, RewriteKind kind,
                          const Measurement& current) const {
    std::vector<Site> sites;
    const OperatorList& ops = edit.operators;
    for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
      const Operator& op = ops[o];
      if (kind == RewriteKind::kPartialSum) {
        if (op.type != OpType::kAdd || op.inputs.size() < 3) continue;
        bool same = true;
        for (int x : op.inputs) {
          same = same && x >= 0 && edit.tensors[x].shape == edit.tensors[op.outputs[0]].shape;
        }
        if (same) sites.push_back({kind, op.outputs[0], -1});
        continue;
      }
      if (kind == RewriteKind::kMergeDuplicates) {
        if (op.outputs.size() != 1 || op.inputs.empty()) continue;
        for (int earlier = 0; earlier < o; ++earlier) {
          if (Duplicates(edit, earlier, o)) {
            sites.push_back({kind, ops[earlier].outputs[0], op.outputs[0]});
            break;
          }
        }
        continue;
      }
      if (kind == RewriteKind::kShiftedSubsample) {
        if (op.type == OpType::kAveragePool2D || op.type == OpType::kMaxPool2D) {
          if (MatchShiftedSubsample(edit, o).ok()) sites.push_back({kind, op.outputs[0], -1});
        }
        continue;
      }
      if (kind == RewriteKind::kCopyConcat) {
        if (op.type == OpType::kConcat &&
            std::binary_search(current.alias.zero_copy_concats.begin(),
                               current.alias.zero_copy_concats.end(), o)) {
          sites.push_back({kind, op.outputs[0], -1});
        }
        continue;
      }
      if (op.type != OpType::kConcat || !CheckChannelConcat(edit, o).ok()) continue;
      const int c = op.outputs[0];
      const int64_t channels = edit.tensors[c].shape.back();
      for (int q : ConsumersOf(edit, c)) {
        const Operator& consumer = ops[q];
        if (kind == RewriteKind::kChannelWise) {
          if (ChannelWiseTarget(edit, q, c)) sites.push_back({kind, c, consumer.outputs[0]});
        } else if (kind == RewriteKind::kKernelWise) {
          if (ChannelSeparable(edit, consumer, c, channels)) {
            sites.push_back({kind, c, consumer.outputs[0]});
          }
        } else if (kind == RewriteKind::kKernelThenChannelWise) {
          if (ChannelSeparable(edit, consumer, c, channels) || ChannelWiseTarget(edit, q, c)) {
            sites.push_back({kind, c, -1});
            break;  // one site per concat: all its readers
          }
        }
      }
    }
    return sites;
  }

  // Order of `tensors` by the step at which `current` produces them; tensors
  // the measured graph does not have (made by an earlier site of the same
  // trial) keep their relative order, last. Names are unique in a model.
  std::vector<int> ProductionOrder(const EditableModel& edit,
                                   const std::vector<int>& tensors,
                                   const Measurement& current) const {
    std::unordered_map<std::string, int> step_of_tensor;
    for (size_t s = 0; s < current.schedule.order.size(); ++s) {
      for (int t : current.graph.ops[current.schedule.order[s]].outputs) {
        step_of_tensor[current.graph.tensors[t].name] = static_cast<int>(s);
      }
    }
    std::vector<int> key;
    for (int t : tensors) {
      const auto it = step_of_tensor.find(edit.tensors[t].name);
      const bool input = std::find(edit.inputs.begin(), edit.inputs.end(), t) != edit.inputs.end();
      key.push_back(input ? -1 : it == step_of_tensor.end() ? INT32_MAX : it->second);
    }
    std::vector<int> order = IdentityOrder(tensors.size());
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return key[a] < key[b]; });
    return order;
  }

  // Applies one site to `edit`; kInvalidArgument if it no longer exists.
  Status Apply(EditableModel* edit, const Site& site, const Measurement& current,
               std::set<int>* copy_concats, std::vector<std::string>* names) const {
    if (site.kind == RewriteKind::kCopyConcat) {
      const int producer = ProducerOf(*edit, site.first);
      if (producer < 0) return InvalidArgumentError("gone");
      names->push_back(OpLabel(*edit, producer));
      copy_concats->insert(site.first);
      return Status::Ok();
    }
    const int first_op = ProducerOf(*edit, site.first);
    if (first_op < 0) return InvalidArgumentError("gone");
    const Operator& first = edit->operators[first_op];
    if (site.kind == RewriteKind::kMergeDuplicates) {
      const int second_op = ProducerOf(*edit, site.second);
      if (second_op < 0) return InvalidArgumentError("gone");
      names->push_back(StrCat(OpLabel(*edit, first_op), " = ", OpLabel(*edit, second_op)));
      return ApplyMergeDuplicate(edit, first_op, second_op);
    }
    if (site.kind == RewriteKind::kPartialSum) {
      names->push_back(OpLabel(*edit, first_op));
      return ApplyPartialSum(edit, first_op, ProductionOrder(*edit, first.inputs, current));
    }
    if (site.kind == RewriteKind::kShiftedSubsample) {
      names->push_back(OpLabel(*edit, first_op));
      return ApplyShiftedSubsample(edit, first_op);
    }
    if (site.kind == RewriteKind::kKernelThenChannelWise) {
      names->push_back(OpLabel(*edit, first_op));
      return PushDown(edit, site.first, 3, current);
    }
    const int second_op = ProducerOf(*edit, site.second);
    if (second_op < 0) return InvalidArgumentError("gone");
    names->push_back(StrCat(OpLabel(*edit, first_op), " -> ", OpLabel(*edit, second_op)));
    if (site.kind == RewriteKind::kChannelWise) {
      return ApplyChannelWise(edit, first_op, second_op,
                              ProductionOrder(*edit, first.inputs, current));
    }
    return ApplyKernelWise(edit, first_op, second_op);
  }

  // Pushes the concat producing `c` down into its readers: channel-wise into
  // dense convolutions, kernel-wise through channel-separable ops (then the
  // same for the concat that makes), until no reader can take it.
  Status PushDown(EditableModel* edit, int c, int depth, const Measurement& current) const {
    while (true) {
      const int join = ProducerOf(*edit, c);
      if (join < 0 || edit->operators[join].type != OpType::kConcat ||
          !CheckChannelConcat(*edit, join).ok()) {
        return Status::Ok();
      }
      const int64_t channels = edit->tensors[c].shape.back();
      bool progressed = false;
      for (int r : ConsumersOf(*edit, c)) {
        if (ChannelWiseTarget(*edit, r, c)) {
          SERENITY_RETURN_IF_ERROR(ApplyChannelWise(
              edit, join, r, ProductionOrder(*edit, edit->operators[join].inputs, current)));
          progressed = true;
          break;
        }
        if (depth > 0 && ChannelSeparable(*edit, edit->operators[r], c, channels)) {
          const int z = edit->operators[r].outputs[0];
          SERENITY_RETURN_IF_ERROR(ApplyKernelWise(edit, join, r));
          SERENITY_RETURN_IF_ERROR(PushDown(edit, z, depth - 1, current));
          progressed = true;
          break;
        }
      }
      if (!progressed) return Status::Ok();
    }
  }

 private:
  const RewriteOptions& options_;
  std::chrono::steady_clock::time_point start_;
  uint64_t work_ = 0;
  bool time_limited_ = false;
};

}  // namespace

Result<Model> PartitionChannelWise(const Model& model, int concat_op, int conv_op,
                                   const std::vector<int>& order) {
  return ApplyAndMaterialise(model, [&](EditableModel* edit) {
    return ApplyChannelWise(edit, concat_op, conv_op, order);
  });
}

Result<Model> PartitionKernelWise(const Model& model, int concat_op, int consumer_op) {
  return ApplyAndMaterialise(model, [&](EditableModel* edit) {
    return ApplyKernelWise(edit, concat_op, consumer_op);
  });
}

Result<Model> SplitPartialSum(const Model& model, int add_op,
                              const std::vector<int>& order) {
  return ApplyAndMaterialise(model, [&](EditableModel* edit) {
    return ApplyPartialSum(edit, add_op, order);
  });
}

Result<Model> ReplaceShiftedSubsample(const Model& model, int pool_op) {
  return ApplyAndMaterialise(
      model, [&](EditableModel* edit) { return ApplyShiftedSubsample(edit, pool_op); });
}

Result<Model> ReplayRewrites(const Model& source, const std::vector<RewriteEdit>& recipe) {
  EditableModel edit = EditableFrom(source);
  probe::Mark("copy: names scan");
  edit.keep_log = false;
  for (size_t i = 0; i < recipe.size(); ++i) {
    const RewriteEdit& step = recipe[i];
    Status applied = ApplyEdit(&edit, step);
    if (!applied.ok()) {
      return InvalidArgumentError("rewrite edit ", i, " (", RewriteEditKindName(step.kind),
                                  " at tensors ", step.first, ", ", step.second,
                                  ") does not apply to model '", source.name(),
                                  "': ", applied.message());
    }
  }
  probe::Mark("replay: edits");
  return Assemble(std::move(edit), source);
}

Result<RewriteResult> RewriteForMemory(const Model& model,
                                       const RewriteOptions& options) {
  Searcher searcher(options);
  EditableModel best = EditableFrom(model);
  std::set<int> copy_concats;
  SERENITY_ASSIGN_OR_RETURN(Measurement current,
                            searcher.Measure(best, copy_concats, /*warm_start=*/true));
  const uint64_t initial_peak = current.peak;
  std::vector<RewriteDecision> decisions;
  int applied = 0;
  bool out_of_budget = false;

  std::vector<RewriteKind> kinds;
  // Partial sums first: they free each input of a sum as soon as it is
  // added, the largest single gain on RandWire, and no other kind's sites
  // depend on them.
  if (options.partial_sum) kinds.push_back(RewriteKind::kPartialSum);
  if (options.merge_duplicates) kinds.push_back(RewriteKind::kMergeDuplicates);
  if (options.shifted_subsample) kinds.push_back(RewriteKind::kShiftedSubsample);
  if (options.channel_wise) kinds.push_back(RewriteKind::kChannelWise);
  if (options.kernel_wise) kinds.push_back(RewriteKind::kKernelWise);
  if (options.kernel_wise && options.channel_wise) {
    kinds.push_back(RewriteKind::kKernelThenChannelWise);
  }
  if (options.choose_copy_concats) kinds.push_back(RewriteKind::kCopyConcat);

  // A site a kept trial applied, by tensor names (which, unlike indices,
  // do not depend on the sites applied before it): its edits, or the concat
  // it kept as a copy, and its name in the decision.
  struct NamedEdit {
    RewriteEdit::Kind kind;
    std::string first, second;
    bool has_second = false;
    std::vector<int> order;
  };
  struct AppliedSite {
    std::vector<NamedEdit> edits;
    bool copies_concat = false;
    std::string copy_concat;  // when copies_concat
    std::string label;
  };
  struct KeptTrial {
    size_t decision = 0;  // index in `decisions`
    std::vector<AppliedSite> sites;
  };
  std::vector<KeptTrial> kept_trials;

  // A model edited from `best` by a trial (with the sites it applied) or
  // rebuilt from the input by pruning.
  struct Edited {
    EditableModel model;
    std::set<int> copies;
    std::vector<AppliedSite> applied;
  };
  auto apply_sites = [&](const std::vector<Site>& sites) {
    Edited out{best, copy_concats, {}};
    for (const Site& site : sites) {
      const size_t logged = out.model.log.size();
      std::vector<std::string> label;
      if (!searcher.Apply(&out.model, site, current, &out.copies, &label).ok()) continue;
      AppliedSite record;
      const std::vector<Tensor>& tensors = out.model.tensors;
      for (size_t e = logged; e < out.model.log.size(); ++e) {
        const RewriteEdit& edit = out.model.log[e];
        record.edits.push_back({edit.kind, tensors[edit.first].name,
                                edit.second >= 0 ? tensors[edit.second].name : std::string(),
                                edit.second >= 0, edit.order});
      }
      if (site.kind == RewriteKind::kCopyConcat) {
        record.copies_concat = true;
        record.copy_concat = tensors[site.first].name;
      }
      if (!label.empty()) record.label = std::move(label.back());
      out.applied.push_back(std::move(record));
    }
    return out;
  };
  // The decision's names: the labels of the sites kept (those `left_out`
  // does not mark; every site when it is null).
  auto labels = [](const std::vector<AppliedSite>& sites, const std::vector<bool>* left_out) {
    std::vector<std::string> names;
    for (size_t i = 0; i < sites.size(); ++i) {
      if (left_out == nullptr || !(*left_out)[i]) names.push_back(sites[i].label);
    }
    return names;
  };

  // Tries `sites` together on the current best; keeps them if the peak drops.
  auto trial = [&](RewriteKind kind, const std::vector<Site>& sites, bool batch) -> Result<bool> {
    Edited candidate = apply_sites(sites);
    if (candidate.applied.empty()) return false;
    SERENITY_ASSIGN_OR_RETURN(
        Measurement m, searcher.Measure(candidate.model, candidate.copies, false, &current, batch));
    RewriteDecision decision;
    decision.kind = kind;
    decision.batch = batch;
    decision.operators = labels(candidate.applied, nullptr);
    decision.peak_before = current.peak;
    decision.peak_after = m.peak;
    decision.applied = m.peak < current.peak;
    decisions.push_back(decision);
    if (!decision.applied) return false;
    ++applied;
    kept_trials.push_back({decisions.size() - 1, std::move(candidate.applied)});
    best = std::move(candidate.model);
    copy_concats = std::move(candidate.copies);
    current = std::move(m);
    return true;
  };

  // Each round: every kind as a batch first (cheap, and repeated cells tie
  // for the peak, so one site alone rarely lowers it), then site by site.
  for (int round = 0; round < options.max_rounds && !out_of_budget; ++round) {
    bool changed = false;
    std::vector<bool> batch_kept(kinds.size(), false);
    for (size_t k = 0; k < kinds.size() && !out_of_budget; ++k) {
      std::vector<Site> sites = searcher.Sites(best, kinds[k], current);
      if (sites.size() < 2) continue;
      if (searcher.OutOfWork() || searcher.OutOfTime()) {
        out_of_budget = true;
        break;
      }
      SERENITY_ASSIGN_OR_RETURN(batch_kept[k], trial(kinds[k], sites, true));
      changed = changed || batch_kept[k];
    }
    for (size_t k = 0; k < kinds.size() && !out_of_budget; ++k) {
      if (batch_kept[k]) continue;
      for (const Site& site : searcher.Sites(best, kinds[k], current)) {
        if (searcher.OutOfWork() || searcher.OutOfTime()) {
          out_of_budget = true;
          break;
        }
        SERENITY_ASSIGN_OR_RETURN(bool kept, trial(kinds[k], {site}, false));
        changed = changed || kept;
      }
    }
    if (!changed) break;
  }
  // Pruning (rewrite.h): the kept trials' sites the final peak does not
  // need are left out, each try rebuilt from the input by tensor names.
  auto prunable = [](RewriteKind kind) {
    return kind != RewriteKind::kMergeDuplicates && kind != RewriteKind::kShiftedSubsample &&
           kind != RewriteKind::kCopyConcat;
  };
  // The input with the kept trials' sites, but those `left_out` marks
  // (per kept trial, per site); nullopt if a site no longer applies. With
  // `reorder_by`, each channel-wise chain and partial sum adds its terms in
  // the order that measurement's schedule produces them, not as recorded.
  auto rebuild = [&](const std::vector<std::vector<bool>>& left_out,
                     const Measurement* reorder_by = nullptr) -> std::optional<Edited> {
    Edited out{EditableFrom(model), {}, {}};
    std::unordered_map<std::string, int> index;
    size_t indexed = 0;
    auto lookup = [&](const std::string& name) {
      for (; indexed < out.model.tensors.size(); ++indexed) {
        index.emplace(out.model.tensors[indexed].name, static_cast<int>(indexed));
      }
      const auto it = index.find(name);
      return it == index.end() ? -1 : it->second;
    };
    for (size_t k = 0; k < kept_trials.size(); ++k) {
      for (size_t i = 0; i < kept_trials[k].sites.size(); ++i) {
        if (left_out[k][i]) continue;
        const AppliedSite& site = kept_trials[k].sites[i];
        for (const NamedEdit& named : site.edits) {
          RewriteEdit edit{named.kind, lookup(named.first),
                           named.has_second ? lookup(named.second) : -1, named.order};
          if (edit.first < 0 || (named.has_second && edit.second < 0)) return std::nullopt;
          const bool chain = edit.kind == RewriteEdit::Kind::kChannelWise ||
                             edit.kind == RewriteEdit::Kind::kPartialSum;
          if (reorder_by != nullptr && chain) {
            const int summed = ProducerOf(out.model, edit.first);  // the concat or the Add
            if (summed >= 0) {
              edit.order = searcher.ProductionOrder(out.model, out.model.operators[summed].inputs,
                                                    *reorder_by);
            }
          }
          if (!ApplyEdit(&out.model, edit).ok()) return std::nullopt;
        }
        if (site.copies_concat) {
          const int c = lookup(site.copy_concat);
          if (c < 0) return std::nullopt;
          out.copies.insert(c);
        }
      }
    }
    return out;
  };
  // Per kept trial, per site: whether pruning left it out.
  std::vector<std::vector<bool>> left_out;
  for (const KeptTrial& kept : kept_trials) left_out.emplace_back(kept.sites.size(), false);
  if (options.prune_sites) {
    const Measurement final_measurement = current;
    bool pruned = false;
    // Latest trial first: a site can need an earlier trial's (a push-down
    // through the concat a kernel-wise rewrite made), not a later one's.
    for (size_t k = kept_trials.size(); k-- > 0;) {
      if (!prunable(decisions[kept_trials[k].decision].kind)) continue;
      std::vector<bool>& out_k = left_out[k];
      const size_t n = out_k.size();
      for (size_t run = std::max<size_t>(n / 2, 1);; run /= 2) {
        for (size_t start = 0; start < n && !searcher.OutOfTime(); start += run) {
          const size_t end = std::min(start + run, n);
          if (std::all_of(out_k.begin() + start, out_k.begin() + end, [](bool b) { return b; })) {
            continue;
          }
          const std::vector<bool> kept_before = out_k;
          std::fill(out_k.begin() + start, out_k.begin() + end, true);
          std::optional<Edited> rebuilt = rebuild(left_out);
          std::optional<Measurement> carried;
          if (rebuilt.has_value()) {
            SERENITY_ASSIGN_OR_RETURN(
                carried,
                searcher.MeasureCarried(rebuilt->model, rebuilt->copies, final_measurement));
          }
          if (!carried.has_value() || carried->peak > final_measurement.peak) {
            out_k = kept_before;
            continue;
          }
          best = std::move(rebuilt->model);
          copy_concats = std::move(rebuilt->copies);
          current = std::move(*carried);
          pruned = true;
        }
        if (run == 1) break;
      }
    }
    if (pruned) {
      for (size_t k = 0; k < kept_trials.size(); ++k) {
        RewriteDecision& decision = decisions[kept_trials[k].decision];
        decision.operators = labels(kept_trials[k].sites, &left_out[k]);
        decision.sites_left_out =
            static_cast<int>(kept_trials[k].sites.size() - decision.operators.size());
        if (decision.operators.empty()) {
          decision.applied = false;
          --applied;
        }
      }
      // The order of what is left, searched (never worse: an unproven
      // search falls back on the order carried over).
      SERENITY_ASSIGN_OR_RETURN(Measurement m,
                                searcher.Measure(best, copy_concats, false, &current, true));
      if (m.peak <= current.peak) current = std::move(m);
    }
  }

  // The result for a final model: materialised, with its graph, aliasing
  // and the measured order (checked to give the measured peak).
  auto finish = [&](EditableModel& model, const std::set<int>& copies,
                    Measurement& measured) -> Result<RewriteResult> {
    SERENITY_ASSIGN_OR_RETURN(MaterialisedModel out, Materialise(model));
    Graph graph = GraphFromModel(out.model);
    AliasOptions alias = options.alias;
    alias.copy_concats.clear();
    const std::vector<Operator>& ops = out.model.operators();
    std::set<int> copies_new;
    for (int t : copies) copies_new.insert(out.new_index[t]);
    for (int o = 0; o < static_cast<int>(ops.size()); ++o) {
      if (ops[o].type == OpType::kConcat && copies_new.count(ops[o].outputs[0]) > 0) {
        alias.copy_concats.push_back(o);
      }
    }
    std::vector<int> kept_copies = alias.copy_concats;
    SERENITY_ASSIGN_OR_RETURN(AliasPlan plan,
                              PlanAliasing(out.model, graph, options.capabilities, alias));
    if (!IsTopologicalOrder(graph, measured.schedule.order)) {
      return InternalError("the measured order is not an order of the rewritten model");
    }
    const uint64_t peak = PeakBytes(graph, plan.memory, measured.schedule.order);
    if (peak != measured.peak) {
      return InternalError("the rewritten model's peak ", peak, " differs from the measured ",
                           measured.peak);
    }
    RewriteResult result{std::move(out.model),
                         std::move(graph),
                         std::move(plan),
                         std::move(kept_copies),
                         std::move(measured.schedule),
                         initial_peak,
                         {},
                         applied,
                         /*out_of_work=*/out_of_budget && searcher.OutOfWork(),
                         searcher.time_limited(),
                         searcher.work(),
                         std::move(model.log),
                         /*before_reorder=*/nullptr};
    return result;
  };

  // Chains re-sorted by the final order (rewrite.h): a chain's order was
  // the production order when its trial was kept; later trials move the
  // producers, and a term made early then stays live until the terms before
  // it in the chain are added. Rebuilt from the input and searched again;
  // kept, beside the model as it was, when the peak does not rise.
  std::optional<Edited> reordered;
  std::optional<Measurement> reordered_measured;
  if (options.reorder_chains && !kept_trials.empty()) {
    reordered = rebuild(left_out, &current);
    const bool changed =
        reordered.has_value() &&
        !(reordered->model.log.size() == best.log.size() &&
          std::equal(
              best.log.begin(), best.log.end(), reordered->model.log.begin(),
              [](const RewriteEdit& a, const RewriteEdit& b) { return a.order == b.order; }));
    if (changed) {
      SERENITY_ASSIGN_OR_RETURN(Measurement m, searcher.Measure(reordered->model, reordered->copies,
                                                                false, &current, true));
      if (m.peak <= current.peak) reordered_measured = std::move(m);
    }
  }
  if (!reordered_measured.has_value()) {
    SERENITY_ASSIGN_OR_RETURN(RewriteResult result, finish(best, copy_concats, current));
    result.decisions = std::move(decisions);
    return result;
  }
  SERENITY_ASSIGN_OR_RETURN(RewriteResult before, finish(best, copy_concats, current));
  SERENITY_ASSIGN_OR_RETURN(RewriteResult result,
                            finish(reordered->model, reordered->copies, *reordered_measured));
  result.decisions = std::move(decisions);
  result.before_reorder = std::make_unique<RewriteResult>(std::move(before));
  return result;
}

}  // namespace serenity::scheduler
