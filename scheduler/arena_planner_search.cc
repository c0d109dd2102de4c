// Exact search behind PlannerKind::kBest (ideas from MiniMalloc, ASPLOS 2023;
// written from the published description).
//
// Time is cut into sections at every live-range boundary. Buffers are placed
// in increasing offset order, so every section has a "floor": nothing placed
// later goes below it. Any valid plan can be pushed down until each buffer
// rests on 0 or on a buffer beneath it (rounded up to its alignment); such a
// "canonical" plan is found by this branching, at every node:
//   f = the lowest floor among sections that still have unplaced buffers,
//   s = one section at f (the one with the fewest choices);
//   either some unplaced buffer covering s sits exactly at f (all its
//   sections must then be at f), one branch per such buffer;
//   or nothing ever sits at f in s: its floor rises to the lowest offset a
//   buffer covering it can still take.
// Pruning: in every section, the lowest offset any of its unplaced buffers
// can take + their total size must fit under the target. A stretch of
// sections with no unplaced buffer splits the rest into independent parts,
// solved one by one (a failing part fails the node without retrying the
// others); failed parts (their floors and unplaced buffers) are remembered.
// Identical buffers are tried once per node.
//
// SearchOffsets (at the end) runs this search, the canonical one and its
// limited-discrepancy variant (arena_planner_canonical.cc) and the sweep
// (arena_planner_sweep.cc) side by side, round by round: on the MiniMalloc instances and the zoo,
// each one finishes quickly on instances where the others wander.
#include <algorithm>
#include <memory>
#include <unordered_set>

#include "arena_planner_internal.h"

namespace serenity::scheduler::internal {
namespace {

// Remembered failures are capped so memory stays bounded on long searches.
constexpr size_t kMaxRemembered = size_t{1} << 22;
// Branching orders per round of restarts, and the first round's node budget.
constexpr uint64_t kOrders = 10;
constexpr uint64_t kRunNodes = 1000;

struct Item {
  uint64_t size;
  uint64_t alignment;
  int lo;  // first section, inclusive
  int hi;  // last section, inclusive
  int64_t duration;
  size_t buffer;
  uint64_t key;  // for hashing sets of items
};

class ComponentSearch {
 public:
  ComponentSearch(const std::vector<PlanBuffer>& buffers, const std::vector<size_t>& members,
                  uint64_t target, std::chrono::steady_clock::time_point deadline,
                  bool has_deadline)
      : target_(target), deadline_(deadline), has_deadline_(has_deadline) {
    std::vector<int64_t> cuts;
    for (size_t m : members) {
      cuts.push_back(buffers[m].first);
      cuts.push_back(int64_t{buffers[m].last} + 1);
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    const int sections = static_cast<int>(cuts.size()) - 1;
    auto section_of = [&](int64_t t) {
      return static_cast<int>(std::lower_bound(cuts.begin(), cuts.end(), t) - cuts.begin());
    };
    for (size_t m : members) {
      Item item;
      item.size = buffers[m].size;
      item.alignment = buffers[m].alignment;
      item.lo = section_of(buffers[m].first);
      item.hi = section_of(int64_t{buffers[m].last} + 1) - 1;
      item.duration = int64_t{buffers[m].last} - buffers[m].first + 1;
      item.buffer = m;
      item.key = Mix(m * 2 + 1);
      items_.push_back(item);
    }
    cover_.assign(sections, {});
    starts_.assign(sections, {});
    floor_.assign(sections, 0);
    remaining_.assign(sections, 0);
    smallest_.assign(sections, 0);
    for (size_t i = 0; i < items_.size(); ++i) {
      starts_[items_[i].lo].push_back(static_cast<int>(i));
      for (int s = items_[i].lo; s <= items_[i].hi; ++s) {
        cover_[s].push_back(static_cast<int>(i));
        remaining_[s] += items_[i].size;
      }
    }
    placed_.assign(items_.size(), 0);
    offsets_.assign(items_.size(), 0);
    lowest_.assign(items_.size(), 0);
    low_.assign(sections, 0);
    next_.assign(sections + 1, 0);
    for (size_t i = 0; i < items_.size(); ++i) by_size_.push_back(static_cast<int>(i));
    std::sort(by_size_.begin(), by_size_.end(),
              [&](int x, int y) { return items_[x].size < items_[y].size; });
  }

  // Restarts in rounds: every round gives each branching order a node
  // budget twice the last round's. On these problems one order often
  // finishes in hundreds of nodes where another wanders for millions.
  // Failures proven in one run stay valid in the next. Budgets count nodes,
  // not time, so the result does not depend on the machine's speed.
  // Returns kOutOfNodes when every order of this round ran out of budget.
  SearchOutcome RunRound(uint64_t round, uint64_t* nodes) {
    const uint64_t before = nodes_;
    SearchOutcome outcome = SearchOutcome::kOutOfNodes;
    const int last = static_cast<int>(floor_.size()) - 1;
    for (uint64_t order = 0; order < kOrders; ++order) {
      SetOrder(order, round);
      budget_ = nodes_ + (kRunNodes << std::min<uint64_t>(round, 40));
      stopped_ = false;
      if (SolveRegion(0, last)) {
        outcome = SearchOutcome::kFound;
        break;
      }
      if (timed_out_) {
        outcome = SearchOutcome::kTimedOut;
        break;
      }
      if (!stopped_) {
        outcome = SearchOutcome::kInfeasible;  // ran to completion
        break;
      }
    }
    *nodes += nodes_ - before;
    return outcome;
  }

  void WriteOffsets(std::vector<uint64_t>* offsets) const {
    for (size_t i = 0; i < items_.size(); ++i) (*offsets)[items_[i].buffer] = offsets_[i];
  }

 private:
  // One undoable change: a placement (item >= 0) or a raised floor.
  struct Change {
    int item;
    int section;
    uint64_t old_floor;
  };

  // Orders 0..4 are fixed and each suits some instances; the others weigh
  // size, width in sections and duration at random (seeded by order and
  // round). Ties fall back to the full shape so identical items stay
  // adjacent.
  void SetOrder(uint64_t order, uint64_t round) {
    // (static order, snug) per slot, picked on the MiniMalloc instances.
    static constexpr int kStatic[kOrders] = {0, 1, 2, 3, 4, 5, 6, 7, 1, 0};
    static constexpr bool kSnugSlot[kOrders] = {true, true, true, true,  true,
                                                true, true, true, false, false};
    snug_ = kSnugSlot[order];
    const uint64_t run = static_cast<uint64_t>(kStatic[order]);
    const size_t n = items_.size();
    std::vector<double> score(n);
    double max_size = 1, max_width = 1, max_duration = 1;
    for (const Item& item : items_) {
      max_size = std::max(max_size, static_cast<double>(item.size));
      max_width = std::max(max_width, static_cast<double>(item.hi - item.lo + 1));
      max_duration = std::max(max_duration, static_cast<double>(item.duration));
    }
    double w_size = 0, w_width = 0, w_duration = 0, w_area = 0;
    switch (run) {
      case 0:
        w_width = 1e6;
        w_size = 1;
        break;
      case 1:
        w_size = 1e6;
        w_width = 1;
        break;
      case 2:
        w_width = -1e6;
        w_size = 1;
        break;
      case 3:
        w_duration = 1e6;
        w_size = 1;
        break;
      case 4:
        w_area = 1;
        break;
      default: {
        const uint64_t r = Mix(order * 0x51ed27ull + round * 0x9137ull);
        w_size = static_cast<double>(r & 0xffff) / 65535.0;
        w_width = static_cast<double>((r >> 16) & 0xffff) / 65535.0 - 0.3;
        w_duration = static_cast<double>((r >> 32) & 0xffff) / 65535.0 - 0.3;
        w_area = static_cast<double>((r >> 48) & 0xffff) / 65535.0 - 0.3;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const double size = static_cast<double>(items_[i].size) / max_size;
      const double width = static_cast<double>(items_[i].hi - items_[i].lo + 1) / max_width;
      const double duration = static_cast<double>(items_[i].duration) / max_duration;
      score[i] = w_size * size + w_width * width + w_duration * duration + w_area * size * duration;
    }
    auto before = [&](int x, int y) {
      if (score[x] != score[y]) return score[x] > score[y];
      const Item& a = items_[x];
      const Item& b = items_[y];
      if (a.size != b.size) return a.size > b.size;
      if (a.lo != b.lo) return a.lo < b.lo;
      if (a.hi != b.hi) return a.hi > b.hi;
      if (a.alignment != b.alignment) return a.alignment < b.alignment;
      return x < y;
    };
    for (std::vector<int>& list : cover_) std::sort(list.begin(), list.end(), before);
  }

  static bool Same(const Item& x, const Item& y) {
    return x.size == y.size && x.lo == y.lo && x.hi == y.hi && x.alignment == y.alignment;
  }

  // Solves every independent part of sections [a, b]; on failure, leaves
  // everything as it found it.
  bool SolveRegion(int a, int b) {
    std::vector<std::pair<int, int>> parts;
    for (int s = a; s <= b; ++s) {
      if (remaining_[s] == 0) continue;
      int e = s;
      while (e + 1 <= b && remaining_[e + 1] > 0) ++e;
      parts.emplace_back(s, e);
      s = e;
    }
    if (parts.size() == 1) return SolvePart(parts[0].first, parts[0].second);
    const size_t mark = trail_.size();
    for (const auto& [first, last] : parts) {
      if (!SolvePart(first, last)) {
        Undo(mark);
        return false;
      }
    }
    return true;
  }

  // Sections [a, b] all hold unplaced buffers, and no unplaced buffer
  // leaves them.
  bool SolvePart(int a, int b) {
    if ((nodes_++ & 1023) == 0 && has_deadline_ && std::chrono::steady_clock::now() >= deadline_) {
      timed_out_ = true;
    }
    if (timed_out_ || nodes_ > budget_) stopped_ = true;
    if (stopped_) return false;

    // Range maxima of the floors over [a, b] (sparse table), for the
    // lowest offset of every unplaced item.
    const int width = b - a + 1;
    int levels = 1;
    while ((1 << levels) <= width) ++levels;
    if (static_cast<int>(sparse_.size()) < levels) sparse_.resize(levels);
    sparse_[0].assign(floor_.begin() + a, floor_.begin() + b + 1);
    for (int k = 1; k < levels; ++k) {
      const int step = 1 << (k - 1);
      sparse_[k].resize(width);
      for (int i = 0; i + (1 << k) <= width; ++i) {
        sparse_[k][i] = std::max(sparse_[k - 1][i], sparse_[k - 1][i + step]);
      }
    }
    uint64_t set_hash = 0;
    unplaced_.clear();
    for (int s = a; s <= b; ++s) {
      for (int c : starts_[s]) {
        if (placed_[c]) continue;
        set_hash ^= items_[c].key;
        const Item& item = items_[c];
        const int lo = item.lo - a;
        const int span = item.hi - item.lo + 1;
        int k = 0;
        while ((2 << k) <= span) ++k;
        const uint64_t top = std::max(sparse_[k][lo], sparse_[k][item.hi - a - (1 << k) + 1]);
        lowest_[c] = AlignUp(top, item.alignment);
        unplaced_.push_back(c);
      }
    }
    // Every unplaced buffer of a section goes at or above the lowest offset
    // any of them can take (low_), so that is the section's effective floor:
    // states that differ only below it behave the same. Per section, that
    // minimum and the smallest unplaced size: each section takes the first
    // item covering it in increasing order (painting with a skip list).
    std::sort(unplaced_.begin(), unplaced_.end(),
              [&](int x, int y) { return lowest_[x] < lowest_[y]; });
    Paint(a, b, unplaced_, [&](int s, int c) { low_[s] = lowest_[c]; });
    uint64_t floor_hash = Mix((static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b));
    for (int s = a; s <= b; ++s) {
      floor_hash += Mix(std::max(floor_[s], low_[s]) * 4099 + static_cast<uint64_t>(s));
    }
    const StateKey key{set_hash, floor_hash};
    if (failed_.count(key) > 0) return false;
    Paint(a, b, by_size_, [&](int s, int c) { smallest_[s] = items_[c].size; });
    uint64_t level = UINT64_MAX;
    for (int s = a; s <= b; ++s) {
      const uint64_t low = low_[s];
      if (low > target_ || remaining_[s] > target_ - low) {
        Remember(key);
        return false;
      }
      low_[s] = std::max(floor_[s], low);
      level = std::min(level, low_[s]);
    }

    // Branch on a section at the lowest level with the fewest choices.
    int chosen = -1;
    size_t chosen_count = SIZE_MAX;
    std::vector<int> candidates;
    std::vector<int> choices;
    for (int s = a; s <= b; ++s) {
      if (low_[s] != level) continue;
      candidates.clear();
      const Item* previous = nullptr;
      for (int c : cover_[s]) {
        if (placed_[c] || lowest_[c] != level) continue;
        const Item& item = items_[c];
        if (previous != nullptr && Same(*previous, item)) continue;
        previous = &item;
        candidates.push_back(c);
      }
      const size_t count = candidates.size() + (remaining_[s] < target_ - level ? 1 : 0);
      if (count < chosen_count) {
        chosen = s;
        chosen_count = count;
        choices.swap(candidates);
        if (count <= 1) break;
      }
    }
    if (chosen_count == 0) {
      Remember(key);
      return false;
    }
    if (snug_ && choices.size() > 1) {
      // Prefer buffers that fill the gap they land in: walls on both sides,
      // and a top level with a neighbour.
      auto snug = [&](int c) {
        const Item& item = items_[c];
        const uint64_t top = level + item.size;
        int score = 0;
        if (item.lo == a || low_[item.lo - 1] > level) score += 2;
        if (item.hi == b || low_[item.hi + 1] > level) score += 2;
        if (item.lo > a && low_[item.lo - 1] == top) score += 1;
        if (item.hi < b && low_[item.hi + 1] == top) score += 1;
        return score;
      };
      std::vector<std::pair<int, int>> scored;
      for (size_t i = 0; i < choices.size(); ++i)
        scored.emplace_back(-snug(choices[i]), static_cast<int>(i));
      std::sort(scored.begin(), scored.end());
      std::vector<int> sorted;
      for (const auto& [score, i] : scored) sorted.push_back(choices[i]);
      choices.swap(sorted);
    }

    // The branch where nothing sits at `level` in `chosen` raises its floor
    // to the lowest offset the lowest buffer that will cover it can take
    // (computed now: the children overwrite lowest_). That buffer rests on
    // a floor already there (rounded up to its alignment), or on a buffer
    // placed later, at `level` or above, in one of its other sections
    // (anything in `chosen` would be lower).
    uint64_t raised = UINT64_MAX;
    for (int c : cover_[chosen]) {
      const Item& item = items_[c];
      if (placed_[c]) continue;
      uint64_t offset = lowest_[c];
      if (offset <= level) {
        if (item.lo == item.hi) continue;
        uint64_t smallest = UINT64_MAX;
        for (int s = item.lo; s <= item.hi; ++s) {
          if (s != chosen) smallest = std::min(smallest, smallest_[s]);
        }
        offset = AlignUp(level + smallest, item.alignment);
      }
      raised = std::min(raised, offset);
    }
    const size_t mark = trail_.size();
    for (int c : choices) {
      Place(c, level);
      if (SolveRegion(a, b)) return true;
      Undo(mark);
      if (stopped_) return false;
    }

    if (raised <= target_ && remaining_[chosen] <= target_ - raised) {
      trail_.push_back({-1, chosen, floor_[chosen]});
      floor_[chosen] = raised;
      if (SolveRegion(a, b)) return true;
      Undo(mark);
    }
    if (!stopped_) Remember(key);
    return false;
  }

  // Calls assign(s, c) once for every section s in [a, b], with the first
  // unplaced item c in `order` that covers it.
  template <typename Assign>
  void Paint(int a, int b, const std::vector<int>& order, Assign assign) {
    for (int s = a; s <= b + 1; ++s) next_[s] = s;
    auto find = [&](int s) {
      int root = s;
      while (next_[root] != root) root = next_[root];
      while (next_[s] != root) {
        const int up = next_[s];
        next_[s] = root;
        s = up;
      }
      return root;
    };
    int left = b - a + 1;
    for (int c : order) {
      if (left == 0) break;
      const Item& item = items_[c];
      if (placed_[c] || item.hi < a || item.lo > b) continue;
      for (int s = find(item.lo); s <= item.hi; s = find(s)) {
        assign(s, c);
        next_[s] = s + 1;
        --left;
      }
    }
  }

  void Remember(const StateKey& key) {
    if (failed_.size() >= kMaxRemembered) failed_.clear();
    failed_.insert(key);
  }

  void Place(int c, uint64_t level) {
    const Item& item = items_[c];
    trail_.push_back({c, -1, level});
    placed_[c] = 1;
    offsets_[c] = level;
    for (int s = item.lo; s <= item.hi; ++s) {
      if (floor_[s] != level) trail_.push_back({-1, s, floor_[s]});
      floor_[s] = level + item.size;
      remaining_[s] -= item.size;
    }
  }

  void Undo(size_t mark) {
    while (trail_.size() > mark) {
      const Change change = trail_.back();
      trail_.pop_back();
      if (change.item < 0) {
        floor_[change.section] = change.old_floor;
        continue;
      }
      const Item& item = items_[change.item];
      placed_[change.item] = 0;
      // Sections below `old_floor` were restored by their own entries.
      for (int s = item.lo; s <= item.hi; ++s) {
        if (floor_[s] == change.old_floor + item.size) floor_[s] = change.old_floor;
        remaining_[s] += item.size;
      }
    }
  }

  uint64_t target_;
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_;
  std::vector<Item> items_;
  std::vector<std::vector<int>> cover_;   // per section: items live there
  std::vector<std::vector<int>> starts_;  // per section: items starting there
  std::vector<uint64_t> floor_;
  std::vector<uint64_t> remaining_;  // per section: unplaced bytes
  std::vector<uint64_t> smallest_;   // per section: smallest unplaced size
  std::vector<char> placed_;
  std::vector<uint64_t> offsets_;
  std::vector<uint64_t> lowest_;  // per unplaced item: lowest offset left
  std::vector<Change> trail_;
  std::vector<uint64_t> low_;                  // per section: lowest offset of its unplaced items
  std::vector<int> next_;                      // Paint's skip list
  std::vector<int> by_size_;                   // all items, smallest first
  std::vector<int> unplaced_;                  // scratch
  std::vector<std::vector<uint64_t>> sparse_;  // scratch
  std::unordered_set<StateKey, StateKeyHash> failed_;
  uint64_t nodes_ = 0;
  uint64_t budget_ = 0;
  bool stopped_ = false;  // by the budget or the deadline
  bool timed_out_ = false;
  bool snug_ = false;
};

// The components one after the other, each in rounds of its own.
class FloorSearch : public RoundSearch {
 public:
  FloorSearch(const std::vector<PlanBuffer>& buffers, uint64_t target,
              std::chrono::steady_clock::time_point deadline, bool has_deadline)
      : buffers_(&buffers), target_(target), deadline_(deadline), has_deadline_(has_deadline) {
    // Zero-sized buffers conflict with nothing: offset 0 is always valid.
    std::vector<size_t> order;
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (buffers[i].size > 0) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return buffers[a].first != buffers[b].first ? buffers[a].first < buffers[b].first : a < b;
    });
    // Components: maximal runs of buffers whose live ranges chain together.
    size_t begin = 0;
    while (begin < order.size()) {
      size_t end = begin + 1;
      int reach = buffers[order[begin]].last;
      while (end < order.size() && buffers[order[end]].first <= reach) {
        reach = std::max(reach, buffers[order[end]].last);
        ++end;
      }
      components_.emplace_back(order.begin() + begin, order.begin() + end);
      begin = end;
    }
    offsets_.assign(buffers.size(), 0);
  }

  SearchOutcome RunRound(uint64_t* nodes) override {
    while (next_ < components_.size()) {
      if (!current_) {
        current_ = std::make_unique<ComponentSearch>(*buffers_, components_[next_], target_,
                                                     deadline_, has_deadline_);
        round_ = 0;
      }
      const SearchOutcome outcome = current_->RunRound(round_++, nodes);
      if (outcome != SearchOutcome::kFound) return outcome;
      current_->WriteOffsets(&offsets_);
      current_.reset();
      ++next_;
    }
    return SearchOutcome::kFound;
  }

  const std::vector<uint64_t>& offsets() const override { return offsets_; }

 private:
  const std::vector<PlanBuffer>* buffers_;
  uint64_t target_;
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_;
  std::vector<std::vector<size_t>> components_;
  size_t next_ = 0;
  std::unique_ptr<ComponentSearch> current_;
  uint64_t round_ = 0;
  std::vector<uint64_t> offsets_;
};

}  // namespace

std::unique_ptr<RoundSearch> MakeFloorSearch(const std::vector<PlanBuffer>& buffers,
                                             uint64_t target,
                                             std::chrono::steady_clock::time_point deadline,
                                             bool has_deadline) {
  return std::make_unique<FloorSearch>(buffers, target, deadline, has_deadline);
}

Sections SectionsOf(const std::vector<PlanBuffer>& buffers) {
  Sections sections;
  std::vector<int64_t> cuts;
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].size == 0) continue;
    sections.members.push_back(i);
    cuts.push_back(buffers[i].first);
    cuts.push_back(int64_t{buffers[i].last} + 1);
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  sections.count = cuts.empty() ? 0 : static_cast<int>(cuts.size()) - 1;
  auto section_of = [&](int64_t t) {
    return static_cast<int>(std::lower_bound(cuts.begin(), cuts.end(), t) - cuts.begin());
  };
  for (size_t m : sections.members) {
    sections.lo.push_back(section_of(buffers[m].first));
    sections.hi.push_back(section_of(int64_t{buffers[m].last} + 1) - 1);
  }
  return sections;
}

SearchResult RunToEnd(RoundSearch& search) {
  SearchResult result;
  do {
    result.outcome = search.RunRound(&result.nodes);
  } while (result.outcome == SearchOutcome::kOutOfNodes);
  if (result.outcome == SearchOutcome::kFound) result.offsets = search.offsets();
  return result;
}

SearchResult SearchOffsets(const std::vector<PlanBuffer>& buffers, uint64_t target,
                           std::chrono::steady_clock::time_point deadline, bool has_deadline,
                           uint64_t max_nodes) {
  std::unique_ptr<RoundSearch> floor = MakeFloorSearch(buffers, target, deadline, has_deadline);
  std::unique_ptr<RoundSearch> canonical =
      MakeCanonicalSearch(buffers, target, deadline, has_deadline);
  std::unique_ptr<RoundSearch> sweep = MakeSweepSearch(buffers, target, deadline, has_deadline);
  std::unique_ptr<RoundSearch> discrepancy =
      MakeDiscrepancySearch(buffers, target, deadline, has_deadline);
  // Alternate rounds: each search's budget doubles every round (the
  // discrepancy search's quadruples), so each gets a similar share of the
  // work. Any exact search finding a plan or proving there is none ends
  // the search; the sweep can only find one, and leaves the rotation when
  // it gives up. The sweep's rounds are the cheapest, so it goes first; the
  // discrepancy search goes before the two others so that, on MiniMalloc's
  // instance I, it answers before their costlier late rounds.
  SearchResult result;
  bool sweeping = true;
  for (;;) {
    for (RoundSearch* search : {sweep.get(), discrepancy.get(), canonical.get(), floor.get()}) {
      if (search == sweep.get() && !sweeping) continue;
      result.outcome = search->RunRound(&result.nodes);
      if (result.outcome == SearchOutcome::kOutOfNodes) {
        if (max_nodes > 0 && result.nodes >= max_nodes) return result;
        continue;
      }
      if (result.outcome == SearchOutcome::kGaveUp) {
        sweeping = false;
        continue;
      }
      if (result.outcome == SearchOutcome::kFound) result.offsets = search->offsets();
      return result;
    }
  }
}

}  // namespace serenity::scheduler::internal
