// Third search behind PlannerKind::kBest, a heuristic one: it finds plans
// but proves nothing.
//
// The step with the most live bytes (the pivot) is the tightest: at the
// bound, its buffers must tile the arena exactly. So they are placed first;
// then the buffers born after it, earliest first (a sweep forwards in time),
// and the buffers that die before it, latest first (a sweep backwards), or
// the two sweeps the other way round. Of the buffers placed before it, a
// buffer of a sweep overlaps in time exactly those live at its first step in
// the sweep's direction, so it goes into a gap between them there, at the
// gap's bottom or its top (both tried, the snuggest gap first). Each
// placement looks ahead in its sections: the buffers still to place there
// must still fit into the gaps. The two sweeps share nothing but the pivot's buffers, so when the
// second sweep fails, the search goes back to the pivot's buffers directly
// instead of retrying the first sweep.
//
// The exact searches place buffers in increasing offset order, all steps at
// once; on a graph's timeline, a choice made at the first steps can then
// cost them most of their time at the peak hundreds of steps later. This
// sweep makes every choice where it matters, next to the peak first.
// Bottom-or-top of a gap does not reach every plan, hence no proofs: it
// answers kFound or kGaveUp. Budgets count work (placements and sections
// looked at), double every round and are shared by the two sweep orders;
// the search is deterministic.
#include <algorithm>

#include "arena_planner_internal.h"

namespace serenity::scheduler::internal {
namespace {

// The first round's budget per buffer, in units of work (a placement tried,
// a section looked at): a unit costs tens of times less than a node of the
// exact searches on the zoo. On the zoo, the sweep either finds the bound
// within its first round (AmoebaNet-A CIFAR: about 12 units per buffer) or
// costs the exact searches a few milliseconds.
constexpr uint64_t kWorkPerItem = 16;

class SweepSearch : public RoundSearch {
 public:
  SweepSearch(const std::vector<PlanBuffer>& buffers, uint64_t target,
              std::chrono::steady_clock::time_point deadline, bool has_deadline)
      : buffers_(buffers), target_(target), deadline_(deadline), has_deadline_(has_deadline) {
    Sections sections = SectionsOf(buffers);
    members_ = std::move(sections.members);
    offsets_out_.assign(buffers.size(), 0);
    const int n = static_cast<int>(members_.size());
    if (n == 0) return;
    // The pivot: the first step with the most live bytes.
    std::vector<std::pair<int64_t, int64_t>> events;  // (step, +size or -size)
    for (size_t m : members_) {
      const int64_t size = static_cast<int64_t>(buffers[m].size);
      events.emplace_back(buffers[m].first, size);
      events.emplace_back(int64_t{buffers[m].last} + 1, -size);
    }
    std::sort(events.begin(), events.end());
    int64_t live = 0, peak = -1;
    for (size_t e = 0; e < events.size();) {
      const int64_t step = events[e].first;
      while (e < events.size() && events[e].first == step) live += events[e++].second;
      if (live > peak) {
        peak = live;
        pivot_ = step;
      }
    }
    std::vector<int> pivot, before, after;
    for (int i = 0; i < n; ++i) {
      const PlanBuffer& b = Buffer(i);
      if (b.last < pivot_) {
        before.push_back(i);
      } else if (b.first > pivot_) {
        after.push_back(i);
      } else {
        pivot.push_back(i);
      }
    }
    auto by_size = [&](int x, int y) {
      if (Buffer(x).size != Buffer(y).size) return Buffer(x).size > Buffer(y).size;
      return x < y;
    };
    std::sort(pivot.begin(), pivot.end(), by_size);
    std::sort(before.begin(), before.end(), [&](int x, int y) {
      return Buffer(x).last != Buffer(y).last ? Buffer(x).last > Buffer(y).last : by_size(x, y);
    });
    std::sort(after.begin(), after.end(), [&](int x, int y) {
      return Buffer(x).first != Buffer(y).first ? Buffer(x).first < Buffer(y).first : by_size(x, y);
    });
    pivot_count_ = static_cast<int>(pivot.size());
    for (int forward_first = 1; forward_first >= 0; --forward_first) {
      Sweep& sweep = sweeps_[1 - forward_first];
      const std::vector<int>& first = forward_first ? after : before;
      const std::vector<int>& second = forward_first ? before : after;
      sweep.order = pivot;
      sweep.order.insert(sweep.order.end(), first.begin(), first.end());
      sweep.second_start = static_cast<int>(sweep.order.size());
      sweep.order.insert(sweep.order.end(), second.begin(), second.end());
    }
    overlaps_.assign(n, {});
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if (j != i && Buffer(i).first <= Buffer(j).last && Buffer(j).first <= Buffer(i).last) {
          overlaps_[i].push_back(j);
        }
      }
    }
    offset_.assign(n, 0);
    placed_.assign(n, 0);

    lo_ = std::move(sections.lo);
    hi_ = std::move(sections.hi);
    cover_.assign(sections.count, {});
    for (int i = 0; i < n; ++i) {
      for (int s = lo_[i]; s <= hi_[i]; ++s) cover_[s].push_back(i);
    }
  }

  SearchOutcome RunRound(uint64_t* nodes) override {
    const uint64_t before = nodes_;
    SearchOutcome outcome;
    if (members_.empty()) {
      outcome = SearchOutcome::kFound;
    } else {
      outcome = SearchOutcome::kGaveUp;
      for (Sweep& sweep : sweeps_) {
        if (sweep.exhausted) continue;
        current_ = &sweep;
        budget_ = nodes_ + ((kWorkPerItem * members_.size()) << std::min(round_, 40));
        std::fill(placed_.begin(), placed_.end(), 0);
        const Outcome result = Place(0);
        if (result == Outcome::kFound) {
          outcome = SearchOutcome::kFound;
          for (size_t i = 0; i < members_.size(); ++i) offsets_out_[members_[i]] = offset_[i];
          break;
        }
        if (result == Outcome::kTimedOut) {
          outcome = SearchOutcome::kTimedOut;
          break;
        }
        if (result == Outcome::kAborted) {
          outcome = SearchOutcome::kOutOfNodes;
        } else {
          sweep.exhausted = true;
        }
      }
      ++round_;
    }
    *nodes += nodes_ - before;
    return outcome;
  }

  const std::vector<uint64_t>& offsets() const override { return offsets_out_; }

 private:
  // kBackToPivot: the second sweep failed whatever the first one did.
  enum class Outcome { kFound, kFailed, kBackToPivot, kAborted, kTimedOut };

  struct Sweep {
    std::vector<int> order;  // pivot items, then one sweep, then the other
    int second_start = 0;
    bool exhausted = false;
  };

  const PlanBuffer& Buffer(int item) const { return buffers_[members_[item]]; }

  Outcome Place(int k) {
    const std::vector<int>& order = current_->order;
    const int n = static_cast<int>(order.size());
    if (k == n) return Outcome::kFound;
    if (++nodes_ > budget_) return Outcome::kAborted;
    if ((nodes_ & 255) == 0 && has_deadline_ && std::chrono::steady_clock::now() >= deadline_) {
      return Outcome::kTimedOut;
    }
    const int item = order[k];
    const PlanBuffer& b = Buffer(item);
    // Gaps between the earlier items that overlap it, snuggest first; in
    // each, the bottom, then the top.
    std::vector<std::pair<uint64_t, uint64_t>> taken;
    for (int j : overlaps_[item]) {
      if (placed_[j]) taken.emplace_back(offset_[j], offset_[j] + Buffer(j).size);
    }
    std::sort(taken.begin(), taken.end());
    struct Candidate {
      uint64_t waste;
      uint64_t offset;
    };
    std::vector<Candidate> candidates;
    uint64_t bottom = 0;
    auto gap = [&](uint64_t top) {
      const uint64_t low = AlignUp(bottom, b.alignment);
      if (low > top || top - low < b.size) return;
      const uint64_t waste = top - bottom - b.size;
      candidates.push_back({waste, low});
      const uint64_t high = (top - b.size) / b.alignment * b.alignment;
      if (high > low) candidates.push_back({waste, high});
    };
    for (const auto& [start, end] : taken) {
      if (start > bottom) gap(start);
      bottom = std::max(bottom, end);
    }
    gap(target_);
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& x, const Candidate& y) { return x.waste < y.waste; });
    placed_[item] = 1;
    for (const Candidate& candidate : candidates) {
      offset_[item] = candidate.offset;
      if (!RoomLeft(item)) continue;
      const Outcome outcome = Place(k + 1);
      if (outcome == Outcome::kFailed) continue;
      if (outcome == Outcome::kBackToPivot && k < pivot_count_) continue;
      if (outcome != Outcome::kFound) placed_[item] = 0;
      return outcome;
    }
    placed_[item] = 0;
    // The second sweep's first item overlaps only pivot items and its own
    // sweep's.
    if (k == current_->second_start && k > pivot_count_) return Outcome::kBackToPivot;
    return Outcome::kFailed;
  }

  // Looks ahead in the sections of a buffer just placed: the buffers still
  // to place there must fit into the gaps left, which needs at least a gap
  // as large as the largest of them, and enough bytes in the gaps that can
  // take the smallest.
  bool RoomLeft(int item) {
    for (int s = lo_[item]; s <= hi_[item]; ++s) {
      ++nodes_;
      taken_.clear();
      uint64_t largest = 0, smallest = UINT64_MAX, unplaced = 0;
      for (int c : cover_[s]) {
        if (placed_[c]) {
          taken_.emplace_back(offset_[c], offset_[c] + Buffer(c).size);
        } else {
          largest = std::max(largest, Buffer(c).size);
          smallest = std::min(smallest, Buffer(c).size);
          unplaced += Buffer(c).size;
        }
      }
      if (unplaced == 0) continue;
      std::sort(taken_.begin(), taken_.end());
      uint64_t bottom = 0, widest = 0, usable = 0;
      auto gap = [&](uint64_t top) {
        const uint64_t width = top - bottom;
        widest = std::max(widest, width);
        if (width >= smallest) usable += width;
      };
      for (const auto& [start, end] : taken_) {
        if (start > bottom) gap(start);
        bottom = std::max(bottom, end);
      }
      if (target_ > bottom) gap(target_);
      if (widest < largest || usable < unplaced) return false;
    }
    return true;
  }

  const std::vector<PlanBuffer>& buffers_;
  uint64_t target_;
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_;
  std::vector<size_t> members_;  // item -> buffer index
  int64_t pivot_ = 0;
  int pivot_count_ = 0;
  Sweep sweeps_[2];  // forwards first, backwards first
  Sweep* current_ = nullptr;
  std::vector<std::vector<int>> overlaps_;  // per item: items overlapping in time
  std::vector<uint64_t> offset_;
  std::vector<char> placed_;
  std::vector<int> lo_, hi_;                          // sections, inclusive
  std::vector<std::vector<int>> cover_;               // per section: items live there
  std::vector<std::pair<uint64_t, uint64_t>> taken_;  // scratch
  uint64_t nodes_ = 0;
  uint64_t budget_ = 0;
  int round_ = 0;
  std::vector<uint64_t> offsets_out_;
};

}  // namespace

std::unique_ptr<RoundSearch> MakeSweepSearch(const std::vector<PlanBuffer>& buffers,
                                             uint64_t target,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool has_deadline) {
  return std::make_unique<SweepSearch>(buffers, target, deadline, has_deadline);
}

}  // namespace serenity::scheduler::internal
