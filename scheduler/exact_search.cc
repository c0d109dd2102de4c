// The exact search.
//
// The signature of a partial schedule is the set of operators already run:
// the live buffers and every footprint still to come depend only on it
// (DESIGN.md §2). The search answers "is there an order whose peak is at most
// B?" by depth-first search over these sets, remembering every set from which
// no completion stays within B ("dead"). It starts with B one byte below the
// heuristic's peak; each order it finds lowers B below that order's peak, and
// the first B without an order proves the last order optimal. A set dead under
// B is dead under any smaller B, so the memo carries over.
//
// What keeps it small without losing exactness:
// - Units. Operators that some optimal order runs back to back are merged
//   before the search (MergeUnits), which removes their interleavings: a
//   separable convolution chain, a weighted sum and its inputs' scalings, a
//   pooling branch feeding one add become one unit each.
// - Free steps. If a ready unit does not increase the live bytes and its
//   steps stay within B, running it first loses nothing: moving it to the
//   front of any completion within B lowers or keeps every footprint it
//   passes. So the search takes it without branching.
// - Deferred allocations. A unit that would end no buffer only adds memory;
//   run later, it never costs more (the exchange in Candidates). Such a unit
//   whose only successor unit is V is not branched on alone: the search
//   offers "V's pending predecessors, then V" once all of them are deferred
//   (with aliasing: each Mul scaling an input that other nodes still read
//   waits for its node's in-place Add).
// - Static lower bound: B below it is infeasible without searching.
#include <algorithm>
#include <numeric>
#include <random>

#include "ordering_internal.h"

namespace serenity::scheduler::internal {
namespace {

// Reachability as bitsets over operators.
class Bits {
 public:
  explicit Bits(int size) : words_((size + 63) / 64, 0) {}
  void Set(int i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  bool Test(int i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void Or(const Bits& other) {
    for (size_t w = 0; w < words_.size(); ++w) words_[w] |= other.words_[w];
  }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  std::vector<uint64_t> words_;
};

// Topological order of the operators (they form a DAG).
std::vector<int> TopologicalOrder(const ScheduleProblem& problem) {
  std::vector<int> indegree(problem.num_ops);
  std::vector<int> order;
  for (int o = 0; o < problem.num_ops; ++o) {
    indegree[o] = static_cast<int>(problem.op_preds[o].size());
    if (indegree[o] == 0) order.push_back(o);
  }
  for (size_t i = 0; i < order.size(); ++i) {
    for (int s : problem.op_succs[order[i]]) {
      if (--indegree[s] == 0) order.push_back(s);
    }
  }
  return order;
}

// ancestors[o] and descendants[o], each including o itself.
void Reachability(const ScheduleProblem& problem, std::vector<Bits>& ancestors,
                  std::vector<Bits>& descendants) {
  const std::vector<int> topo = TopologicalOrder(problem);
  ancestors.assign(problem.num_ops, Bits(problem.num_ops));
  descendants.assign(problem.num_ops, Bits(problem.num_ops));
  for (int o : topo) {
    ancestors[o].Set(o);
    for (int p : problem.op_preds[o]) ancestors[o].Or(ancestors[p]);
  }
  for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
    descendants[*it].Set(*it);
    for (int s : problem.op_succs[*it]) descendants[*it].Or(descendants[s]);
  }
}

// A set of bitsets (all of the same width) with open addressing; each slot is
// the 64-bit hash (0: empty) followed by the words.
class BitsetSet {
 public:
  explicit BitsetSet(size_t words) : words_(words) {}

  size_t bytes() const { return table_.size() * sizeof(uint64_t); }

  bool Contains(uint64_t hash, const uint64_t* key) const {
    if (capacity_ == 0) return false;
    hash = Fix(hash);
    for (size_t slot = hash & (capacity_ - 1);; slot = (slot + 1) & (capacity_ - 1)) {
      const uint64_t* entry = &table_[slot * (words_ + 1)];
      if (entry[0] == 0) return false;
      if (entry[0] == hash && std::equal(key, key + words_, entry + 1)) return true;
    }
  }

  // False if the table would have to grow beyond `limit_bytes`.
  bool Insert(uint64_t hash, const uint64_t* key, uint64_t limit_bytes) {
    if ((size_ + 1) * 2 > capacity_) {
      const size_t capacity = capacity_ == 0 ? 1024 : capacity_ * 2;
      if (capacity * (words_ + 1) * sizeof(uint64_t) > limit_bytes) return false;
      Rehash(capacity);
    }
    hash = Fix(hash);
    for (size_t slot = hash & (capacity_ - 1);; slot = (slot + 1) & (capacity_ - 1)) {
      uint64_t* entry = &table_[slot * (words_ + 1)];
      if (entry[0] == 0) {
        entry[0] = hash;
        std::copy(key, key + words_, entry + 1);
        ++size_;
        return true;
      }
      if (entry[0] == hash && std::equal(key, key + words_, entry + 1)) return true;
    }
  }

 private:
  static uint64_t Fix(uint64_t hash) {
    hash ^= hash >> 29;
    hash *= 0xbf58476d1ce4e5b9ull;
    hash ^= hash >> 32;
    return hash == 0 ? 1 : hash;
  }

  void Rehash(size_t capacity) {
    std::vector<uint64_t> old = std::move(table_);
    const size_t old_capacity = capacity_;
    table_.assign(capacity * (words_ + 1), 0);
    capacity_ = capacity;
    for (size_t slot = 0; slot < old_capacity; ++slot) {
      const uint64_t* entry = &old[slot * (words_ + 1)];
      if (entry[0] == 0) continue;
      for (size_t s = entry[0] & (capacity_ - 1);; s = (s + 1) & (capacity_ - 1)) {
        uint64_t* target = &table_[s * (words_ + 1)];
        if (target[0] == 0) {
          std::copy(entry, entry + words_ + 1, target);
          break;
        }
      }
    }
  }

  size_t words_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  std::vector<uint64_t> table_;
};

// Depth-first decision search over sets of units.
class BudgetSearch {
 public:
  BudgetSearch(const ScheduleProblem& problem, std::vector<std::vector<int>> units,
               const ExactSearchOptions& options)
      : options_(options),
        units_(std::move(units)),
        num_units_(static_cast<int>(units_.size())),
        simulator_(problem),
        words_((units_.size() + 63) / 64),
        dead_(words_) {
    std::vector<int> unit_of_op(problem.num_ops, -1);
    for (int u = 0; u < num_units_; ++u) {
      for (int op : units_[u]) unit_of_op[op] = u;
    }
    unit_preds_.resize(num_units_);
    unit_succs_.resize(num_units_);
    for (int o = 0; o < problem.num_ops; ++o) {
      for (int s : problem.op_succs[o]) {
        if (unit_of_op[o] != unit_of_op[s]) unit_succs_[unit_of_op[o]].push_back(unit_of_op[s]);
      }
    }
    for (int u = 0; u < num_units_; ++u) {
      std::vector<int>& succs = unit_succs_[u];
      std::sort(succs.begin(), succs.end());
      succs.erase(std::unique(succs.begin(), succs.end()), succs.end());
      for (int s : succs) unit_preds_[s].push_back(u);
    }
    unit_buffers_.resize(num_units_);
    buffer_units_.resize(problem.buffer_bytes.size());
    for (int u = 0; u < num_units_; ++u) {
      for (int op : units_[u]) {
        for (int b : problem.op_buffers[op]) unit_buffers_[u].push_back(b);
      }
      std::sort(unit_buffers_[u].begin(), unit_buffers_[u].end());
      unit_buffers_[u].erase(std::unique(unit_buffers_[u].begin(), unit_buffers_[u].end()),
                             unit_buffers_[u].end());
      for (int b : unit_buffers_[u]) buffer_units_[b].push_back(u);
    }
    // Deferrable units (see Candidates): one operator, one successor unit
    // (the target), and every other unit touching one of its buffers touches
    // it at its last operator only.
    std::vector<std::vector<int>> early_buffers(num_units_);
    for (int u = 0; u < num_units_; ++u) {
      for (size_t i = 0; i + 1 < units_[u].size(); ++i) {
        for (int b : problem.op_buffers[units_[u][i]]) early_buffers[u].push_back(b);
      }
      std::sort(early_buffers[u].begin(), early_buffers[u].end());
    }
    defer_target_.assign(num_units_, -1);
    for (int u = 0; u < num_units_; ++u) {
      if (units_[u].size() != 1 || unit_succs_[u].size() != 1) continue;
      const int target = unit_succs_[u][0];
      bool ok = true;
      for (int b : unit_buffers_[u]) {
        for (int w : buffer_units_[b]) {
          if (w == u || w == target) continue;
          if (std::binary_search(early_buffers[w].begin(), early_buffers[w].end(), b)) ok = false;
        }
      }
      if (ok) defer_target_[u] = target;
    }
    // For each buffer a deferrable unit may end before its target runs (not
    // an output, not touched by the target): the other touchers that are not
    // deferrable. One of them must be pending for the unit to be deferred.
    defer_keepers_.resize(num_units_);
    for (int u = 0; u < num_units_; ++u) {
      if (defer_target_[u] < 0) continue;
      for (int b : unit_buffers_[u]) {
        if (problem.pinned_end[b]) continue;
        const std::vector<int>& touchers = buffer_units_[b];
        if (std::find(touchers.begin(), touchers.end(), defer_target_[u]) != touchers.end()) {
          continue;
        }
        std::vector<int> keepers;
        for (int w : touchers) {
          if (w != u && defer_target_[w] < 0) keepers.push_back(w);
        }
        defer_keepers_[u].push_back(std::move(keepers));
      }
    }
    deferred_count_.assign(num_units_, 0);
    first_step_only_bytes_ = problem.first_step_only_bytes;
    cache_valid_.assign(num_units_, 0);
    cache_peak_above_live_.assign(num_units_, 0);
    cache_net_.assign(num_units_, 0);
    std::mt19937_64 random(0x5e7e417);
    zobrist_.resize(num_units_);
    for (uint64_t& key : zobrist_) key = random();
    bits_.assign(words_, 0);
    indegree_.resize(num_units_);
    position_.assign(num_units_, -1);
    ResetToRoot();
  }

  enum class Outcome { kFound, kInfeasible, kAborted };

  // Looks for an order whose peak is at most `budget`.
  Outcome Decide(uint64_t budget, std::vector<int>& order) {
    budget_ = budget;
    ResetToRoot();
    Closure();
    if (done_ == num_units_) return Found(order);
    if (dead_.Contains(hash_, bits_.data())) return Outcome::kInfeasible;
    frames_.clear();
    stack_bytes_ = 0;
    if (!PushFrame(undo_.size())) return Outcome::kAborted;
    ++states_;
    while (!frames_.empty()) {
      Frame& frame = frames_.back();
      if (frame.next == frame.candidates.size()) {
        const uint64_t limit = options_.memo_limit_bytes;
        if (stack_bytes_ > limit || !dead_.Insert(hash_, bits_.data(), limit - stack_bytes_)) {
          return Outcome::kAborted;
        }
        memo_bytes_ = std::max<uint64_t>(memo_bytes_, dead_.bytes() + stack_bytes_);
        UndoTo(frame.undo_mark);
        stack_bytes_ -= FrameBytes(frame);
        frames_.pop_back();
        continue;
      }
      const int candidate = frame.candidates[frame.next++];
      const size_t mark = undo_.size();
      ApplyCandidate(candidate);
      Closure();
      ++states_;
      if (options_.max_states > 0 && states_ >= options_.max_states) return Outcome::kAborted;
      if ((states_ & 255) == 0 && options_.has_deadline &&
          std::chrono::steady_clock::now() > options_.deadline) {
        timed_out_ = true;
        return Outcome::kAborted;
      }
      if (done_ == num_units_) return Found(order);
      if (dead_.Contains(hash_, bits_.data())) {
        UndoTo(mark);
        continue;
      }
      if (!PushFrame(mark)) return Outcome::kAborted;
    }
    return Outcome::kInfeasible;
  }

  uint64_t states() const { return states_; }
  uint64_t memo_bytes() const { return memo_bytes_; }
  bool timed_out() const { return timed_out_; }

 private:
  struct Frame {
    size_t undo_mark;
    std::vector<int> candidates;
    size_t next;
  };
  struct UndoRecord {
    int unit;
    int position;     // where the unit stood in ready_
    int added_ready;  // successors that became ready
  };

  static uint64_t FrameBytes(const Frame& frame) {
    return sizeof(Frame) + frame.candidates.capacity() * sizeof(int);
  }

  // The depth-first stack counts against the memory cap too: on a wide graph
  // it holds a candidate list per level.
  bool PushFrame(size_t undo_mark) {
    frames_.push_back(Frame{undo_mark, Candidates(), 0});
    stack_bytes_ += FrameBytes(frames_.back());
    memo_bytes_ = std::max<uint64_t>(memo_bytes_, dead_.bytes() + stack_bytes_);
    return dead_.bytes() + stack_bytes_ <= options_.memo_limit_bytes;
  }

  Outcome Found(std::vector<int>& order) {
    order.clear();
    for (const UndoRecord& record : undo_) {
      order.insert(order.end(), units_[record.unit].begin(), units_[record.unit].end());
    }
    return Outcome::kFound;
  }

  void ResetToRoot() {
    UndoTo(0);
    done_ = 0;
    hash_ = 0;
    ready_.clear();
    for (int u = 0; u < num_units_; ++u) {
      indegree_[u] = static_cast<int>(unit_preds_[u].size());
      position_[u] = -1;
      if (indegree_[u] == 0) {
        position_[u] = static_cast<int>(ready_.size());
        ready_.push_back(u);
      }
    }
  }

  // Largest footprint while the unit runs and the change of live bytes. Both
  // depend only on how often the unit's buffers were touched (and, for the
  // first step, on the inputs nobody reads), so they are cached per unit and
  // invalidated when a unit sharing a buffer runs or is undone.
  void Evaluate(int unit, uint64_t& peak, int64_t& net) {
    const uint64_t before = simulator_.live_bytes();
    if (simulator_.steps() > 0 && cache_valid_[unit]) {
      peak = before + cache_peak_above_live_[unit];
      net = cache_net_[unit];
      return;
    }
    peak = 0;
    for (int op : units_[unit]) peak = std::max(peak, simulator_.Do(op));
    net = static_cast<int64_t>(simulator_.live_bytes()) - static_cast<int64_t>(before);
    for (auto it = units_[unit].rbegin(); it != units_[unit].rend(); ++it) simulator_.Undo(*it);
    if (simulator_.steps() > 0) {
      cache_valid_[unit] = 1;
      cache_peak_above_live_[unit] = peak - before;
      cache_net_[unit] = net;
    }
  }

  void Invalidate(int unit) {
    for (int b : unit_buffers_[unit]) {
      for (int other : buffer_units_[b]) cache_valid_[other] = 0;
    }
  }

  void Apply(int unit) {
    for (int op : units_[unit]) simulator_.Do(op);
    Invalidate(unit);
    const int position = position_[unit];
    const int last = ready_.back();
    ready_[position] = last;
    position_[last] = position;
    ready_.pop_back();
    position_[unit] = -1;
    int added = 0;
    for (int s : unit_succs_[unit]) {
      if (--indegree_[s] == 0) {
        position_[s] = static_cast<int>(ready_.size());
        ready_.push_back(s);
        ++added;
      }
    }
    bits_[unit >> 6] |= uint64_t{1} << (unit & 63);
    hash_ ^= zobrist_[unit];
    ++done_;
    undo_.push_back(UndoRecord{unit, position, added});
  }

  // A candidate is a unit (>= 0) or, as -1 - V, the pending predecessors of
  // unit V (all deferred, see Candidates) followed by V.
  void ApplyCandidate(int candidate) {
    if (candidate >= 0) {
      Apply(candidate);
      return;
    }
    const int target = -1 - candidate;
    std::vector<int> preds;
    for (int p : unit_preds_[target]) {
      if (position_[p] >= 0) preds.push_back(p);
    }
    for (int p : preds) Apply(p);
    Apply(target);
  }

  bool Deferred(int unit) const {
    if (defer_target_[unit] < 0 || (simulator_.steps() == 0 && first_step_only_bytes_ > 0)) {
      return false;
    }
    for (const std::vector<int>& keepers : defer_keepers_[unit]) {
      bool kept = false;
      for (int w : keepers) kept = kept || !((bits_[w >> 6] >> (w & 63)) & 1);
      if (!kept) return false;
    }
    return !simulator_.EndsAny(units_[unit][0]);
  }

  void UndoTo(size_t mark) {
    while (undo_.size() > mark) {
      const UndoRecord record = undo_.back();
      undo_.pop_back();
      const int unit = record.unit;
      --done_;
      hash_ ^= zobrist_[unit];
      bits_[unit >> 6] &= ~(uint64_t{1} << (unit & 63));
      for (int i = 0; i < record.added_ready; ++i) {
        position_[ready_.back()] = -1;
        ready_.pop_back();
      }
      for (int s : unit_succs_[unit]) ++indegree_[s];
      // Put the unit back where it stood; the unit that took its place goes
      // back to the end.
      ready_.push_back(unit);
      position_[unit] = static_cast<int>(ready_.size()) - 1;
      std::swap(ready_[record.position], ready_.back());
      position_[ready_[record.position]] = record.position;
      position_[ready_.back()] = static_cast<int>(ready_.size()) - 1;
      for (auto it = units_[unit].rbegin(); it != units_[unit].rend(); ++it) {
        simulator_.Undo(*it);
      }
      Invalidate(unit);
    }
  }

  // Runs free units (no growth, within budget) until none is left.
  void Closure() {
    bool progress = true;
    while (progress) {
      progress = false;
      for (size_t i = 0; i < ready_.size(); ++i) {
        uint64_t peak;
        int64_t net;
        Evaluate(ready_[i], peak, net);
        if (net <= 0 && peak <= budget_) {
          Apply(ready_[i]);
          progress = true;
          break;
        }
      }
    }
  }

  // A deferrable unit a is deferred in a state S when S is not the first
  // step (unless no input is first-step only), a would end no buffer, and
  // each buffer a could end before its target V runs has a pending toucher
  // that is not deferrable.
  //
  // Exchange: let a (ending nothing at S) be followed by a unit W that does
  // not depend on a and touches a's buffers at its last step only. Running W
  // first keeps W's steps within the old ones (a ended nothing, and W frees
  // a's buffers at its last step at the earliest), and a's step then holds
  // at most what W's last step held: the buffers the pair starts are the
  // same in either order and a frees nothing W did not.
  //
  // Completeness (induction on the units left): take a completion within B
  // from S that starts with a deferred a. From S+a some completion starts
  // with (i) V, or all of V's pending predecessors then V: together with a
  // that is the composite offered at S (the predecessors end nothing in any
  // order: a keeper or V is pending, so any order does); (ii) a unit u not
  // deferred at S+a: u is ready at S, and u is not deferred at S either (had
  // it been, only a running could change that, by ending with u the last of
  // a buffer's touchers -- but then a had no keeper for it); swapping a
  // behind u gives a completion starting with u; (iii) a composite for
  // another V': its predecessors were deferred at S too, and a, which ends
  // nothing until a keeper or V' runs, moves behind it the same way.
  //
  // Candidates: ready units that are not deferred and the complete
  // composites, whose steps fit the budget, least growth first.
  std::vector<int> Candidates() {
    struct Candidate {
      int64_t net;
      uint64_t peak;
      int unit;
    };
    std::vector<Candidate> fitting;
    std::vector<int> targets;
    for (int unit : ready_) {
      if (Deferred(unit)) {
        const int target = defer_target_[unit];
        if (deferred_count_[target]++ == 0) targets.push_back(target);
        continue;
      }
      uint64_t peak;
      int64_t net;
      Evaluate(unit, peak, net);
      if (peak <= budget_) fitting.push_back(Candidate{net, peak, unit});
    }
    for (int target : targets) {
      const bool complete = deferred_count_[target] == indegree_[target];
      deferred_count_[target] = 0;
      if (!complete) continue;
      const uint64_t before = simulator_.live_bytes();
      std::vector<int> ops;
      for (int p : unit_preds_[target]) {
        if (position_[p] >= 0) ops.push_back(units_[p][0]);
      }
      ops.insert(ops.end(), units_[target].begin(), units_[target].end());
      uint64_t peak = 0;
      for (int op : ops) peak = std::max(peak, simulator_.Do(op));
      const int64_t net =
          static_cast<int64_t>(simulator_.live_bytes()) - static_cast<int64_t>(before);
      for (auto it = ops.rbegin(); it != ops.rend(); ++it) simulator_.Undo(*it);
      if (peak <= budget_) fitting.push_back(Candidate{net, peak, -1 - target});
    }
    std::sort(fitting.begin(), fitting.end(), [](const Candidate& a, const Candidate& b) {
      if (a.net != b.net) return a.net < b.net;
      if (a.peak != b.peak) return a.peak < b.peak;
      return a.unit < b.unit;
    });
    std::vector<int> result;
    result.reserve(fitting.size());
    for (const Candidate& c : fitting) result.push_back(c.unit);
    return result;
  }

  const ExactSearchOptions& options_;
  std::vector<std::vector<int>> units_;
  int num_units_;
  std::vector<std::vector<int>> unit_preds_;
  std::vector<std::vector<int>> unit_succs_;
  std::vector<uint64_t> zobrist_;
  std::vector<std::vector<int>> unit_buffers_;
  std::vector<std::vector<int>> buffer_units_;
  std::vector<int> defer_target_;
  std::vector<int> deferred_count_;
  std::vector<std::vector<std::vector<int>>> defer_keepers_;
  uint64_t first_step_only_bytes_ = 0;
  std::vector<uint8_t> cache_valid_;
  std::vector<uint64_t> cache_peak_above_live_;
  std::vector<int64_t> cache_net_;
  Simulator simulator_;
  size_t words_;
  BitsetSet dead_;

  uint64_t budget_ = 0;
  std::vector<uint64_t> bits_;
  uint64_t hash_ = 0;
  int done_ = 0;
  std::vector<int> indegree_;
  std::vector<int> ready_;
  std::vector<int> position_;
  std::vector<UndoRecord> undo_;
  std::vector<Frame> frames_;
  uint64_t stack_bytes_ = 0;
  uint64_t states_ = 0;
  bool timed_out_ = false;
  uint64_t memo_bytes_ = 0;
};

}  // namespace

uint64_t StaticLowerBound(const ScheduleProblem& problem) {
  if (problem.num_ops == 0) return 0;
  if (problem.num_ops > kMaxOpsForQuadratic) {
    // Every buffer an operator touches is live at its step.
    uint64_t bound = problem.first_step_only_bytes;
    for (int o = 0; o < problem.num_ops; ++o) {
      uint64_t bytes = 0;
      for (int b : problem.op_buffers[o]) bytes += problem.buffer_bytes[b];
      bound = std::max(bound, bytes);
    }
    return bound;
  }
  std::vector<Bits> ancestors;
  std::vector<Bits> descendants;
  Reachability(problem, ancestors, descendants);
  std::vector<uint64_t> need(problem.num_ops, 0);
  const size_t words = (problem.num_ops + 63) / 64;
  std::vector<uint64_t> started(words);
  std::vector<uint64_t> unfinished(words);
  for (size_t b = 0; b < problem.buffer_bytes.size(); ++b) {
    const std::vector<int>& touchers = problem.buffer_touchers[b];
    if (touchers.empty()) continue;
    // Live at o if a toucher is an ancestor-or-self of o (or pinned start) and
    // one is a descendant-or-self (or pinned end).
    std::fill(started.begin(), started.end(), problem.pinned_start[b] ? ~uint64_t{0} : 0);
    std::fill(unfinished.begin(), unfinished.end(), problem.pinned_end[b] ? ~uint64_t{0} : 0);
    for (int t : touchers) {
      for (size_t w = 0; w < words; ++w) {
        started[w] |= descendants[t].words()[w];
        unfinished[w] |= ancestors[t].words()[w];
      }
    }
    for (size_t w = 0; w < words; ++w) {
      uint64_t live = started[w] & unfinished[w];
      while (live != 0) {
        const int o = static_cast<int>(w * 64) + __builtin_ctzll(live);
        live &= live - 1;
        if (o < problem.num_ops) need[o] += problem.buffer_bytes[b];
      }
    }
  }
  // Buffers pinned at both ends and touched by nobody are live at every step.
  uint64_t always = 0;
  for (size_t b = 0; b < problem.buffer_bytes.size(); ++b) {
    if (problem.buffer_touchers[b].empty() && problem.pinned_start[b] && problem.pinned_end[b]) {
      always += problem.buffer_bytes[b];
    }
  }
  uint64_t bound = 0;
  for (int o = 0; o < problem.num_ops; ++o) bound = std::max(bound, need[o] + always);
  // The first step also holds the inputs nobody reads.
  bound = std::max(bound, always + problem.first_step_only_bytes);
  return bound;
}

// Two exchange arguments, applied until nothing changes. Both assume an
// optimal order in which the units formed so far are contiguous and show that
// moving an operator (sink) or a unit (lift) next to another unit keeps every
// footprint within the peak.
//
// Sink (operator a runs right before unit V, which holds all of a's
// successors). Let X be the buffers only a and V touch (unpinned), E the
// other buffers a touches that outlive it, I those only a touches. Moving a
// down to V: the steps it jumps over lose X and gain at most E, so E <= X
// keeps them; a's own step then holds what V's first step holds, minus the
// buffers that surely start there (start(V1)), plus E and I, so
// E + I <= start(V1) keeps it.
//
// Lift (a unit B runs right after unit A, which holds all of B's outside
// predecessors): see try_lift below. Inputs nobody reads count at the first
// step only, so a sink may not move the first operator away from it.
std::vector<std::vector<int>> MergeUnits(const ScheduleProblem& problem) {
  const int num_ops = problem.num_ops;
  std::vector<std::vector<int>> units(num_ops);
  std::vector<int> unit_of_op(num_ops);
  for (int o = 0; o < num_ops; ++o) {
    units[o] = {o};
    unit_of_op[o] = o;
  }
  if (num_ops == 0) return units;
  std::vector<Bits> ancestors;
  std::vector<Bits> descendants;
  Reachability(problem, ancestors, descendants);

  // Bytes of the buffers that start at op's step in every order.
  std::vector<uint64_t> surely_started(num_ops, 0);
  std::vector<uint64_t> surely_freed(num_ops, 0);
  for (int o = 0; o < num_ops; ++o) {
    for (int b : problem.op_buffers[o]) {
      bool all_after = !problem.pinned_start[b];
      bool all_before = !problem.pinned_end[b];
      for (int t : problem.buffer_touchers[b]) {
        if (t == o) continue;
        all_after = all_after && descendants[o].Test(t);
        all_before = all_before && ancestors[o].Test(t);
      }
      if (all_after) surely_started[o] += problem.buffer_bytes[b];
      if (all_before) surely_freed[o] += problem.buffer_bytes[b];
    }
  }

  auto same_unit = [&](const std::vector<int>& ops, int unit) {
    if (ops.empty()) return -1;
    for (int o : ops) {
      if (unit_of_op[o] != unit_of_op[ops[0]]) return -1;
    }
    return unit_of_op[ops[0]] == unit ? -1 : unit_of_op[ops[0]];
  };
  auto merge = [&](int into, int from, bool from_first) {
    std::vector<int> ops;
    if (from_first) {
      ops = units[from];
      ops.insert(ops.end(), units[into].begin(), units[into].end());
    } else {
      ops = units[into];
      ops.insert(ops.end(), units[from].begin(), units[from].end());
    }
    units[into] = std::move(ops);
    for (int o : units[from]) unit_of_op[o] = into;
    units[from].clear();
  };

  // Lift unit B (any length) to right after unit A, which holds all of B's
  // outside predecessors. X: buffers only A, B and ancestors of A touch
  // (unpinned), freed by B; internal: only B touches them; O: the rest. The steps B jumps over
  // lose X and gain at most O. At B's k-th step, on top of what is live after
  // A, at most the non-X buffers that may be live there minus the X buffers
  // already freed; A's last step held what is live after A plus
  // surely_freed(A_last).
  auto try_lift = [&](int self) {
    std::vector<int> outside_preds;
    for (int o : units[self]) {
      for (int p : problem.op_preds[o]) {
        if (unit_of_op[p] != self) outside_preds.push_back(p);
      }
    }
    const int lift = same_unit(outside_preds, self);
    if (lift < 0) return false;
    const std::vector<int>& ops = units[self];
    Bits after_b(num_ops);  // descendants of B's operators
    for (int o : ops) after_b.Or(descendants[o]);
    for (int o : units[lift]) {
      if (after_b.Test(o)) return false;
    }
    auto position_in_b = [&](int op) {
      for (size_t i = 0; i < ops.size(); ++i) {
        if (ops[i] == op) return static_cast<int>(i);
      }
      return -1;
    };
    // Operators that run before A in every order count as A's: a buffer they
    // start is live when A ends either way, and B's jump does not change when
    // it starts (with aliasing: the Mul whose output an in-place Add then
    // overwrites, read next by the convolution being lifted).
    Bits before_a(num_ops);
    for (int o : units[lift]) before_a.Or(ancestors[o]);
    std::vector<int> buffers;
    for (int o : ops) {
      for (int b : problem.op_buffers[o]) buffers.push_back(b);
    }
    std::sort(buffers.begin(), buffers.end());
    buffers.erase(std::unique(buffers.begin(), buffers.end()), buffers.end());
    uint64_t x = 0, outer = 0;
    const int steps = static_cast<int>(ops.size());
    std::vector<int64_t> profile(steps, 0);
    for (int b : buffers) {
      const bool pinned = problem.pinned_start[b] || problem.pinned_end[b];
      bool touched_by_a = false, touched_elsewhere = false, may_start_before = false;
      int first_in_b = steps, last_in_b = -1;
      for (int t : problem.buffer_touchers[b]) {
        const int in_b = position_in_b(t);
        if (in_b >= 0) {
          first_in_b = std::min(first_in_b, in_b);
          last_in_b = std::max(last_in_b, in_b);
        } else if (unit_of_op[t] == lift || before_a.Test(t)) {
          touched_by_a = true;
          may_start_before = true;
        } else {
          touched_elsewhere = true;
          if (!after_b.Test(t)) may_start_before = true;
        }
      }
      const int64_t bytes = static_cast<int64_t>(problem.buffer_bytes[b]);
      if (!pinned && !touched_elsewhere && touched_by_a) {
        x += bytes;
        for (int k = last_in_b + 1; k < steps; ++k) profile[k] -= bytes;
        continue;
      }
      if (pinned || touched_elsewhere) outer += bytes;
      const bool ends_in_b = !problem.pinned_end[b] && !touched_elsewhere;
      for (int k = 0; k < steps; ++k) {
        const bool started = problem.pinned_start[b] || may_start_before || first_in_b <= k;
        const bool ended = ends_in_b && last_in_b < k;
        if (started && !ended) profile[k] += bytes;
      }
    }
    if (outer > x) return false;
    const int64_t freed = static_cast<int64_t>(surely_freed[units[lift].back()]);
    for (int64_t bytes : profile) {
      if (bytes > freed) return false;
    }
    merge(lift, self, /*from_first=*/false);
    return true;
  };

  // Sinks cascade against the topological order, lifts along it; the pass
  // cap only bounds the work (fewer merges are just as exact).
  const std::vector<int> topo = TopologicalOrder(problem);
  bool changed = true;
  for (int pass = 0; changed && pass < 64; ++pass) {
    changed = false;
    for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
      const int a = *it;
      const int self = unit_of_op[a];
      if (units[self].size() != 1) continue;
      // Sink a into the unit of all its successors.
      const int sink = same_unit(problem.op_succs[a], self);
      if (sink >= 0) {
        uint64_t x = 0, e = 0, i = 0;
        for (int b : problem.op_buffers[a]) {
          const bool pinned = problem.pinned_start[b] || problem.pinned_end[b];
          bool only_a = true, only_a_and_v = true, touched_by_v = false;
          for (int t : problem.buffer_touchers[b]) {
            if (t == a) continue;
            only_a = false;
            if (unit_of_op[t] == sink) {
              touched_by_v = true;
            } else {
              only_a_and_v = false;
            }
          }
          if (pinned) {
            e += problem.buffer_bytes[b];
          } else if (only_a) {
            i += problem.buffer_bytes[b];
          } else if (only_a_and_v && touched_by_v) {
            x += problem.buffer_bytes[b];
          } else {
            e += problem.buffer_bytes[b];
          }
        }
        const int first = units[sink].front();
        bool acyclic = true;
        for (int o : units[sink]) acyclic = acyclic && !ancestors[a].Test(o);
        // If a may run first, moving it hands the first step's extra bytes
        // (inputs nobody reads) to another operator.
        const bool may_run_first =
            problem.op_preds[a].empty() && problem.first_step_only_bytes > 0;
        if (acyclic && !may_run_first && e <= x && e + i <= surely_started[first]) {
          merge(sink, self, /*from_first=*/true);
          changed = true;
        }
      }
    }
    for (int a : topo) {
      const int self = unit_of_op[a];
      if (units[self].front() != a) continue;  // each unit once per pass
      if (try_lift(self)) changed = true;
    }
  }
  std::vector<std::vector<int>> result;
  for (std::vector<int>& unit : units) {
    if (!unit.empty()) result.push_back(std::move(unit));
  }
  return result;
}

ExactSearchResult ExactSearch(const ScheduleProblem& problem, std::vector<int> initial_order,
                              uint64_t initial_peak, const ExactSearchOptions& options) {
  ExactSearchResult result;
  result.order = std::move(initial_order);
  result.peak_bytes = initial_peak;
  result.lower_bound_bytes = std::min(StaticLowerBound(problem), initial_peak);
  if (result.peak_bytes <= result.lower_bound_bytes) {
    result.optimal = true;
    return result;
  }
  if (problem.num_ops > kMaxOpsForQuadratic) return result;
  std::vector<std::vector<int>> units;
  if (options.merge_units) {
    units = MergeUnits(problem);
  } else {
    units.resize(problem.num_ops);
    for (int o = 0; o < problem.num_ops; ++o) units[o] = {o};
  }
  BudgetSearch search(problem, std::move(units), options);
  std::vector<int> order;
  while (true) {
    const uint64_t budget = result.peak_bytes - 1;
    if (budget < result.lower_bound_bytes) {
      result.optimal = true;
      break;
    }
    const BudgetSearch::Outcome outcome = search.Decide(budget, order);
    if (outcome == BudgetSearch::Outcome::kAborted) break;
    if (outcome == BudgetSearch::Outcome::kInfeasible) {
      result.lower_bound_bytes = result.peak_bytes;
      result.optimal = true;
      break;
    }
    result.order = order;
    result.peak_bytes = ProblemPeak(problem, order);
  }
  result.states = search.states();
  result.memo_bytes = search.memo_bytes();
  result.timed_out = search.timed_out();
  return result;
}

}  // namespace serenity::scheduler::internal
