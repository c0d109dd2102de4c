// Second exact search behind PlannerKind::kBest: canonical placements in
// increasing offset order (the search of MiniMalloc, ASPLOS 2023, written
// from its published description).
//
// Any valid plan can be pushed down until every buffer rests on 0 or on the
// top of a buffer it overlaps in time (rounded up to its alignment). Sorting
// such a plan by (offset, static rank) gives a sequence in which every buffer
// sits at its "lowest offset": the highest top among the buffers placed
// before it that overlap it. So the search places one buffer per node, at its
// lowest offset, in nondecreasing (offset, rank) order. Rules:
//  - Dominance: a buffer at offset x is refused while some unplaced buffer
//    would fit entirely below x (lowest offset + size <= x): moving that
//    buffer down to its lowest offset gives a plan that is no higher, so a
//    plan that places it first exists.
//  - Section floors: time is cut into sections at every live-range
//    boundary. A section's floor is the top of the last buffer placed there,
//    raised to the lowest offset any of its unplaced buffers can still take,
//    and never below the offset just placed (offsets only grow). floor +
//    unplaced bytes must fit under the target in every section.
//  - Splitting: once no unplaced buffer crosses a section boundary, the two
//    sides are independent and solved one after the other (a failing side
//    fails the node).
// The static rank decides both the tie order and the branching order; the
// search runs one rank order after another with node budgets that double
// every round (restarts), so one order that suits the instance finishes
// quickly. Budgets count nodes, not time: the result does not depend on the
// machine unless the deadline hits.
//
// The same search with limited discrepancies (Harvey and Ginsberg's LDS)
// is a search of its own (MakeDiscrepancySearch): at every node, the k-th
// child tried (counting from 0, in the (offset, rank) order) costs k
// discrepancies, and a path may spend at most d of them. d = 0, 1, 2, ...
// in turn, within the round's node budget. Depth-first restarts only ever
// revisit the choices near the leaves; this revisits the early ones, which
// on MiniMalloc's instance I (the late, dense half of its timeline) are the
// wrong ones: with the crowd, width, area order it fits I at d = 3 in about
// 90,000 nodes, where the plain search does not within minutes. Only
// failures found without cutting a child off are remembered, and only an
// iteration that cut nothing proves that no plan fits.
#include <algorithm>
#include <numeric>
#include <unordered_set>

#include "arena_planner_internal.h"

namespace serenity::scheduler::internal {
namespace {

enum class Outcome { kFound, kNotFound, kAborted, kTimedOut };

// Remembered failures are capped so memory stays bounded on long searches.
constexpr size_t kMaxRemembered = size_t{1} << 21;

class CanonicalSearch : public RoundSearch {
 public:
  CanonicalSearch(const std::vector<PlanBuffer>& buffers, uint64_t target,
                  std::chrono::steady_clock::time_point deadline, bool has_deadline,
                  bool limit_discrepancies)
      : target_(target),
        deadline_(deadline),
        has_deadline_(has_deadline),
        limit_discrepancies_(limit_discrepancies) {
    Sections sections = SectionsOf(buffers);
    members_ = std::move(sections.members);
    sections_ = sections.count;
    lo_ = std::move(sections.lo);
    hi_ = std::move(sections.hi);
    const int n = static_cast<int>(members_.size());
    size_.resize(n);
    alignment_.resize(n);
    duration_.resize(n);
    for (int i = 0; i < n; ++i) {
      const PlanBuffer& b = buffers[members_[i]];
      size_[i] = b.size;
      alignment_[i] = b.alignment;
      duration_[i] = int64_t{b.last} - b.first + 1;
    }
    cover_.assign(sections_, {});
    total_.assign(sections_, 0);
    floor_.assign(sections_, 0);
    crossing_.assign(sections_, 0);
    stamp_.assign(sections_, 0);
    witness_.assign(sections_, -1);
    for (int i = 0; i < n; ++i) {
      for (int s = lo_[i]; s <= hi_[i]; ++s) {
        cover_[s].push_back(i);
        total_[s] += size_[i];
      }
      for (int s = lo_[i]; s < hi_[i]; ++s) ++crossing_[s];
    }
    overlaps_.assign(n, {});
    for (int i = 0; i < n; ++i) {
      for (int j = i + 1; j < n; ++j) {
        if (lo_[i] <= hi_[j] && lo_[j] <= hi_[i]) {
          overlaps_[i].push_back(j);
          overlaps_[j].push_back(i);
        }
      }
    }
    placed_.assign(n, 0);
    offset_.assign(n, 0);
    lowest_.assign(n, 0);
    solution_.assign(n, 0);
    rank_.assign(n, 0);
    twin_.assign(n, -1);
    offsets_out_.assign(buffers.size(), 0);
  }

  SearchOutcome RunRound(uint64_t* nodes) override {
    const uint64_t before = nodes_;
    const int n = static_cast<int>(size_.size());
    SearchOutcome outcome = SearchOutcome::kOutOfNodes;
    if (n == 0) {
      outcome = SearchOutcome::kFound;
    } else {
      std::vector<int> all(n);
      std::iota(all.begin(), all.end(), 0);
      if (limit_discrepancies_) {
        outcome = RunDiscrepancyRound(all);
      } else {
        outcome = RunRestartRound(all);
      }
      ++round_;
    }
    if (outcome == SearchOutcome::kFound) {
      for (size_t i = 0; i < members_.size(); ++i) offsets_out_[members_[i]] = solution_[i];
    }
    *nodes += nodes_ - before;
    return outcome;
  }

  const std::vector<uint64_t>& offsets() const override { return offsets_out_; }

 private:
  static constexpr int kOrders = 4;
  // The rank order of the discrepancy search: crowd, width, area.
  static constexpr int kDiscrepancyOrder = 2;
  // More discrepancies than any path can spend: the plain search.
  static constexpr int64_t kUnlimited = int64_t{1} << 40;

  // One budget per rank order, in turn, until one answers.
  SearchOutcome RunRestartRound(const std::vector<int>& all) {
    const int n = static_cast<int>(all.size());
    for (int order = 0; order < kOrders; ++order) {
      SetRanks(order);
      budget_ = nodes_ + (static_cast<uint64_t>(n) << std::min(round_ + 1, 40));
      const Outcome result = SolveSplit(0, sections_ - 1, all);
      if (result == Outcome::kAborted) continue;
      return result == Outcome::kFound      ? SearchOutcome::kFound
             : result == Outcome::kTimedOut ? SearchOutcome::kTimedOut
                                            : SearchOutcome::kInfeasible;
    }
    return SearchOutcome::kOutOfNodes;
  }

  // d = 0, 1, 2, ... discrepancies, all within one budget. The iterations
  // with few discrepancies are cheap and their proven failures are
  // remembered, so starting again from 0 every round costs little. The
  // budget grows four times per round, not two: this search needs far
  // fewer rounds than its companions to reach the budgets that matter
  // (instance I: about 180,000 nodes), and a floor-search node costs
  // several canonical ones, so rounds in step would leave it most of the
  // time.
  SearchOutcome RunDiscrepancyRound(const std::vector<int>& all) {
    const int n = static_cast<int>(all.size());
    SetRanks(kDiscrepancyOrder);
    budget_ = nodes_ + (static_cast<uint64_t>(n) << std::min(2 * round_ + 2, 40));
    for (int64_t limit = 0;; ++limit) {
      discrepancies_left_ = limit;
      cut_off_ = false;
      const Outcome result = SolveSplit(0, sections_ - 1, all);
      if (result == Outcome::kAborted) return SearchOutcome::kOutOfNodes;
      if (result == Outcome::kFound) return SearchOutcome::kFound;
      if (result == Outcome::kTimedOut) return SearchOutcome::kTimedOut;
      if (!cut_off_) return SearchOutcome::kInfeasible;
    }
  }

  struct Change {
    enum Kind { kLowest, kFloor } kind;
    int index;
    uint64_t old_value;
  };

  // Static orders, the most constrained first by different measures:
  // largest section total around it, area, lifetime, size.
  void SetRanks(int order) {
    order_ = order;
    const int n = static_cast<int>(size_.size());
    std::vector<uint64_t> crowd(n, 0);
    for (int i = 0; i < n; ++i) {
      for (int s = lo_[i]; s <= hi_[i]; ++s) crowd[i] = std::max(crowd[i], total_[s]);
    }
    auto area = [&](int i) { return static_cast<double>(size_[i]) * duration_[i]; };
    std::vector<int> by(n);
    std::iota(by.begin(), by.end(), 0);
    std::stable_sort(by.begin(), by.end(), [&](int x, int y) {
      switch (order) {
        case 0:  // width, area, crowd
          if (duration_[x] != duration_[y]) return duration_[x] > duration_[y];
          if (area(x) != area(y)) return area(x) > area(y);
          return crowd[x] > crowd[y];
        case 1:  // crowd, area, width
          if (crowd[x] != crowd[y]) return crowd[x] > crowd[y];
          if (area(x) != area(y)) return area(x) > area(y);
          return duration_[x] > duration_[y];
        case 2:  // crowd, width, area
          if (crowd[x] != crowd[y]) return crowd[x] > crowd[y];
          if (duration_[x] != duration_[y]) return duration_[x] > duration_[y];
          return area(x) > area(y);
        default:  // size, width
          if (size_[x] != size_[y]) return size_[x] > size_[y];
          return duration_[x] > duration_[y];
      }
    });
    for (int r = 0; r < n; ++r) rank_[by[r]] = r;
    // Identical items (same size, sections and alignment) are interchangeable:
    // they are placed in rank order only.
    std::vector<int> shape(n);
    std::iota(shape.begin(), shape.end(), 0);
    std::sort(shape.begin(), shape.end(), [&](int x, int y) {
      if (size_[x] != size_[y]) return size_[x] < size_[y];
      if (lo_[x] != lo_[y]) return lo_[x] < lo_[y];
      if (hi_[x] != hi_[y]) return hi_[x] < hi_[y];
      if (alignment_[x] != alignment_[y]) return alignment_[x] < alignment_[y];
      return rank_[x] < rank_[y];
    });
    for (int k = 0; k < n; ++k) {
      const int x = shape[k];
      const int y = k > 0 ? shape[k - 1] : -1;
      twin_[x] = y >= 0 && size_[x] == size_[y] && lo_[x] == lo_[y] && hi_[x] == hi_[y] &&
                         alignment_[x] == alignment_[y]
                     ? y
                     : -1;
    }
  }

  // Splits sections [a, b] where no unplaced item crosses, then solves every
  // part with the items of `items` that are still unplaced.
  Outcome SolveSplit(int a, int b, const std::vector<int>& items) {
    std::vector<int> ends;
    for (int s = a; s < b; ++s) {
      if (crossing_[s] == 0) ends.push_back(s);
    }
    ends.push_back(b);
    if (ends.size() == 1) return Search(a, b, items, 0, -1);
    int start = a;
    std::vector<int> part;
    for (int end : ends) {
      part.clear();
      for (int c : items) {
        if (!placed_[c] && lo_[c] <= end && hi_[c] >= start) part.push_back(c);
      }
      if (!part.empty()) {
        const Outcome outcome = Search(start, end, part, 0, -1);
        if (outcome != Outcome::kFound) return outcome;
      }
      start = end + 1;
    }
    return Outcome::kFound;
  }

  Outcome Search(int a, int b, const std::vector<int>& items, uint64_t last_offset, int last_rank) {
    if (++nodes_ > budget_) return Outcome::kAborted;
    if ((nodes_ & 255) == 0 && has_deadline_ && std::chrono::steady_clock::now() >= deadline_) {
      timed_out_ = true;
    }
    if (timed_out_) return Outcome::kTimedOut;

    // What is left to do depends only on the unplaced items and their
    // lowest offsets (every later offset is at least that, so placed items
    // no longer matter), and on where the order resumes: a state that
    // failed once fails again, whatever path leads to it.
    uint64_t min_top = UINT64_MAX;
    uint64_t state = Mix((static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b));
    for (int c : items) {
      if (placed_[c]) continue;
      min_top = std::min(min_top, lowest_[c] + size_[c]);
      state += Mix(lowest_[c] * 0x100000001b3ull + static_cast<uint64_t>(c));
    }
    if (min_top == UINT64_MAX) {
      for (int c : items) solution_[c] = offset_[c];
      return Outcome::kFound;
    }
    // Only items that can go below min_top are candidates (dominance).
    std::vector<int> order;
    for (int c : items) {
      if (!placed_[c] && lowest_[c] < min_top) order.push_back(c);
    }
    const StateKey key{state, Mix(last_offset) ^ Mix(static_cast<uint64_t>(last_rank) +
                                                     (static_cast<uint64_t>(order_) << 40))};
    if (failed_.count(key) > 0) return Outcome::kNotFound;
    std::sort(order.begin(), order.end(), [&](int x, int y) {
      return lowest_[x] != lowest_[y] ? lowest_[x] < lowest_[y] : rank_[x] < rank_[y];
    });
    // Whichever item goes next at `offset`, every section's floor becomes at
    // least `offset` while its unplaced bytes stay the same (the item's own
    // sections lose its size but gain its top). So no item above
    // target - (the largest section total) can go next, and candidates come
    // in increasing offset order.
    uint64_t fullest = 0;
    for (int s = a; s <= b; ++s) fullest = std::max(fullest, total_[s]);
    // cut_off_ tells whether this node's subtree cut a child off; the
    // caller's flag is restored (or'ed) on the way out.
    const bool outer_cut_off = cut_off_;
    cut_off_ = false;
    int64_t child = 0;
    for (int c : order) {
      const uint64_t offset = lowest_[c];
      if (fullest > target_ || offset > target_ - fullest) break;
      if (offset < last_offset || (offset == last_offset && rank_[c] < last_rank)) continue;
      if (offset + size_[c] > target_) continue;
      if (twin_[c] >= 0 && !placed_[twin_[c]]) continue;
      const size_t mark = trail_.size();
      Outcome outcome = Outcome::kNotFound;
      if (Place(c, offset)) {
        const int64_t cost = child++;
        if (cost > discrepancies_left_) {
          cut_off_ = true;
          Undo(mark, c);
          break;
        }
        discrepancies_left_ -= cost;
        outcome = Descend(a, b, c, items, offset);
        discrepancies_left_ += cost;
      }
      Undo(mark, c);
      if (outcome != Outcome::kNotFound) {
        cut_off_ = cut_off_ || outer_cut_off;
        return outcome;
      }
    }
    // A failure is a proof only when nothing below was cut off.
    if (!cut_off_) {
      if (failed_.size() >= kMaxRemembered) failed_.clear();
      failed_.insert(key);
    }
    cut_off_ = cut_off_ || outer_cut_off;
    return Outcome::kNotFound;
  }

  // After placing `c`: continue in [a, b], or split it where `c` was the
  // last item crossing a boundary.
  Outcome Descend(int a, int b, int c, const std::vector<int>& items, uint64_t offset) {
    bool split = false;
    for (int s = std::max(lo_[c], a); s < std::min(hi_[c], b); ++s) {
      if (--crossing_[s] == 0) split = true;
    }
    Outcome outcome;
    if (!split) {
      outcome = Search(a, b, items, offset, rank_[c]);
    } else {
      // Parts are solved afresh; record what this level placed, since no
      // leaf of this level will.
      for (int i : items) {
        if (placed_[i]) solution_[i] = offset_[i];
      }
      outcome = SolveSplit(a, b, items);
    }
    for (int s = std::max(lo_[c], a); s < std::min(hi_[c], b); ++s) ++crossing_[s];
    return outcome;
  }

  // Places `c` and returns whether every section still fits: floor +
  // unplaced bytes <= target, the floor being at least `offset`. Only the
  // sections whose floor Place raises above the top of `c` need a look:
  // the caller checked offset + (largest section total before the
  // placement) <= target, which covers the sections of `c` (their floor
  // becomes offset + size, their total drops by size) and every section
  // whose floor stays at or below the offset; the rest kept floor + total
  // <= target from the placement that set their floor.
  bool Place(int c, uint64_t offset) {
    placed_[c] = 1;
    offset_[c] = offset;
    const uint64_t top = offset + size_[c];
    bool fits = true;
    ++epoch_;
    for (int o : overlaps_[c]) {
      if (placed_[o]) continue;
      const uint64_t lowest = AlignUp(top, alignment_[o]);
      if (lowest_[o] >= lowest) continue;
      trail_.push_back({Change::kLowest, o, lowest_[o]});
      lowest_[o] = lowest;
      for (int s = lo_[o]; s <= hi_[o]; ++s) {
        // The section's minimum cannot rise above a floor `o` stays under.
        if (stamp_[s] == epoch_ || lowest <= floor_[s]) continue;
        stamp_[s] = epoch_;
        touched_.push_back(s);
      }
    }
    for (int s = lo_[c]; s <= hi_[c]; ++s) {
      trail_.push_back({Change::kFloor, s, floor_[s]});
      floor_[s] = top;
      total_[s] -= size_[c];
    }
    // A section's floor is at least the lowest offset of its unplaced items.
    // Most touched sections keep an unplaced item at or below their floor,
    // which leaves the floor as it is: the last such item seen is checked
    // first, and the scan stops at the first one.
    for (int s : touched_) {
      const int witness = witness_[s];
      if (witness >= 0 && !placed_[witness] && lowest_[witness] <= floor_[s]) continue;
      uint64_t low = UINT64_MAX;
      for (int o : cover_[s]) {
        if (placed_[o]) continue;
        if (lowest_[o] <= floor_[s]) {
          witness_[s] = o;
          low = UINT64_MAX;
          break;
        }
        low = std::min(low, lowest_[o]);
      }
      if (low != UINT64_MAX && low > floor_[s]) {
        trail_.push_back({Change::kFloor, s, floor_[s]});
        floor_[s] = low;
        if (low > target_ || total_[s] > target_ - low) fits = false;
      }
    }
    touched_.clear();
    return fits;
  }

  void Undo(size_t mark, int c) {
    while (trail_.size() > mark) {
      const Change change = trail_.back();
      trail_.pop_back();
      if (change.kind == Change::kLowest) {
        lowest_[change.index] = change.old_value;
      } else {
        floor_[change.index] = change.old_value;
      }
    }
    for (int s = lo_[c]; s <= hi_[c]; ++s) total_[s] += size_[c];
    placed_[c] = 0;
  }

  uint64_t target_;
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_;
  std::vector<size_t> members_;  // item -> buffer index
  int sections_ = 0;
  std::vector<uint64_t> size_, alignment_;
  std::vector<int> lo_, hi_;  // sections, inclusive
  std::vector<int64_t> duration_;
  std::vector<std::vector<int>> cover_;     // per section: items live there
  std::vector<std::vector<int>> overlaps_;  // per item: items overlapping in time
  std::vector<uint64_t> total_;             // per section: unplaced bytes
  std::vector<uint64_t> floor_;
  std::vector<int> crossing_;  // per boundary s|s+1: unplaced items crossing it
  std::vector<uint64_t> stamp_;
  std::vector<int> witness_;  // per section: an item last seen at or below its floor
  std::vector<int> touched_;
  uint64_t epoch_ = 0;
  std::vector<char> placed_;
  std::vector<uint64_t> offset_, lowest_, solution_;
  std::vector<int> rank_;
  std::vector<int> twin_;  // the identical item ranked just before, or -1
  int order_ = 0;
  std::unordered_set<StateKey, StateKeyHash> failed_;
  std::vector<Change> trail_;
  uint64_t nodes_ = 0;
  uint64_t budget_ = 0;
  int round_ = 0;
  bool timed_out_ = false;
  bool limit_discrepancies_;
  int64_t discrepancies_left_ = kUnlimited;
  bool cut_off_ = false;               // a child was cut off by the discrepancy limit
  std::vector<uint64_t> offsets_out_;  // per buffer, once found
};

}  // namespace

std::unique_ptr<RoundSearch> MakeCanonicalSearch(const std::vector<PlanBuffer>& buffers,
                                                 uint64_t target,
                                                 std::chrono::steady_clock::time_point deadline,
                                                 bool has_deadline) {
  return std::make_unique<CanonicalSearch>(buffers, target, deadline, has_deadline,
                                           /*limit_discrepancies=*/false);
}

std::unique_ptr<RoundSearch> MakeDiscrepancySearch(const std::vector<PlanBuffer>& buffers,
                                                   uint64_t target,
                                                   std::chrono::steady_clock::time_point deadline,
                                                   bool has_deadline) {
  return std::make_unique<CanonicalSearch>(buffers, target, deadline, has_deadline,
                                           /*limit_discrepancies=*/true);
}

}  // namespace serenity::scheduler::internal
