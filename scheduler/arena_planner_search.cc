// Exact search behind PlannerKind::kBest (ideas from MiniMalloc, ASPLOS 2023;
// written from the published description).
//
// Time is cut into sections at every live-range boundary. Buffers are placed
// in increasing offset order, so every section has a "floor": nothing placed
// later goes below it. Any valid plan can be pushed down until each buffer
// rests on 0 or on a buffer beneath it (rounded up to its alignment); such a
// "canonical" plan is found by this branching, at every node:
//   s = the lowest section that still has unplaced buffers (leftmost on ties),
//   f = its floor;
//   either some unplaced buffer covering s sits exactly at f (it then needs
//   the floor of all its sections to be f), one branch per such buffer;
//   or nothing sits at f in s: the floor of s rises to the lowest offset any
//   buffer covering s can still take.
// Pruning: floor + unplaced bytes of a section must fit under the target;
// failed states (placed set + floors) are remembered; identical buffers are
// tried once per node; independent pieces of the timeline are solved apart.
#include <algorithm>
#include <unordered_set>

#include "arena_planner_internal.h"

namespace serenity::scheduler::internal {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct StateKey {
  uint64_t a;
  uint64_t b;
  bool operator==(const StateKey& o) const { return a == o.a && b == o.b; }
};
struct StateKeyHash {
  size_t operator()(const StateKey& k) const { return static_cast<size_t>(k.a ^ (k.b * 31)); }
};

// Remembered failures are capped so memory stays bounded on long searches.
constexpr size_t kMaxRemembered = size_t{1} << 22;

struct Item {
  uint64_t size;
  uint64_t alignment;
  int lo;  // first section, inclusive
  int hi;  // last section, inclusive
  size_t buffer;
  uint64_t key;  // Zobrist key of "placed"
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
    for (size_t m : members) {
      Item item;
      item.size = buffers[m].size;
      item.alignment = buffers[m].alignment;
      item.lo = static_cast<int>(std::lower_bound(cuts.begin(), cuts.end(), buffers[m].first) -
                                 cuts.begin());
      item.hi = static_cast<int>(std::lower_bound(cuts.begin(), cuts.end(),
                                                  int64_t{buffers[m].last} + 1) -
                                 cuts.begin()) -
                1;
      item.buffer = m;
      item.key = Mix(m * 2 + 1);
      items_.push_back(item);
    }
    // Branching order: long-lived, then large buffers first; identical
    // buffers end up adjacent.
    std::sort(items_.begin(), items_.end(), [](const Item& x, const Item& y) {
      const int wx = x.hi - x.lo;
      const int wy = y.hi - y.lo;
      if (wx != wy) return wx > wy;
      if (x.size != y.size) return x.size > y.size;
      if (x.lo != y.lo) return x.lo < y.lo;
      if (x.alignment != y.alignment) return x.alignment < y.alignment;
      return x.buffer < y.buffer;
    });
    cover_.assign(sections, {});
    floor_.assign(sections, 0);
    remaining_.assign(sections, 0);
    for (size_t i = 0; i < items_.size(); ++i) {
      for (int s = items_[i].lo; s <= items_[i].hi; ++s) {
        cover_[s].push_back(static_cast<int>(i));
        remaining_[s] += items_[i].size;
      }
    }
    placed_.assign(items_.size(), 0);
    offsets_.assign(items_.size(), 0);
    lowest_.assign(items_.size(), 0);
  }

  SearchOutcome Run(uint64_t* nodes) {
    for (uint64_t r : remaining_) {
      if (r > target_) return SearchOutcome::kInfeasible;
    }
    const bool found = Dfs();
    *nodes += nodes_;
    if (found) return SearchOutcome::kFound;
    return timed_out_ ? SearchOutcome::kTimedOut : SearchOutcome::kInfeasible;
  }

  void WriteOffsets(std::vector<uint64_t>* offsets) const {
    for (size_t i = 0; i < items_.size(); ++i) (*offsets)[items_[i].buffer] = offsets_[i];
  }

 private:
  bool Same(const Item& x, const Item& y) const {
    return x.size == y.size && x.lo == y.lo && x.hi == y.hi && x.alignment == y.alignment;
  }

  // Offset the unplaced item `c` would take now: its alignment-rounded
  // highest floor. Floors only rise, so it can only rise too.
  uint64_t LowestOffset(int c) const {
    const Item& item = items_[c];
    uint64_t top = 0;
    for (int s = item.lo; s <= item.hi; ++s) top = std::max(top, floor_[s]);
    return AlignUp(top, item.alignment);
  }

  // In every section, the unplaced buffers that cannot go below v must all
  // fit between v and the target, for every v.
  bool SectionsFit() {
    const int sections = static_cast<int>(floor_.size());
    for (size_t c = 0; c < items_.size(); ++c) {
      if (!placed_[c]) lowest_[c] = LowestOffset(static_cast<int>(c));
    }
    for (int s = 0; s < sections; ++s) {
      if (remaining_[s] == 0) continue;
      scratch_.clear();
      for (int c : cover_[s]) {
        if (!placed_[c]) scratch_.emplace_back(lowest_[c], items_[c].size);
      }
      std::sort(scratch_.begin(), scratch_.end(),
                [](const auto& x, const auto& y) { return x.first > y.first; });
      uint64_t above = 0;
      for (const auto& [offset, size] : scratch_) {
        above += size;
        if (offset > target_ || above > target_ - offset) return false;
      }
    }
    return true;
  }

  bool Dfs() {
    if ((nodes_++ & 1023) == 0 && has_deadline_ &&
        std::chrono::steady_clock::now() >= deadline_) {
      timed_out_ = true;
    }
    if (timed_out_) return false;

    int lowest = -1;
    uint64_t floor_hash = 0;
    const int sections = static_cast<int>(floor_.size());
    for (int s = 0; s < sections; ++s) {
      if (remaining_[s] == 0) continue;
      floor_hash += Mix(floor_[s] * 4099 + static_cast<uint64_t>(s));
      if (lowest < 0 || floor_[s] < floor_[lowest]) lowest = s;
    }
    if (lowest < 0) return true;
    const StateKey key{placed_hash_, floor_hash};
    if (failed_.count(key) > 0) return false;
    if (!SectionsFit()) {
      Remember(key);
      return false;
    }

    // Branch on the section at the lowest level with the fewest choices.
    const uint64_t level = floor_[lowest];
    int chosen = -1;
    size_t chosen_choices = SIZE_MAX;
    std::vector<int> candidates;
    std::vector<int> choices;
    for (int s = lowest; s < sections; ++s) {
      if (remaining_[s] == 0 || floor_[s] != level) continue;
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
      if (count < chosen_choices) {
        chosen = s;
        chosen_choices = count;
        choices.swap(candidates);
        if (count <= 1) break;
      }
    }
    if (chosen_choices == 0) {
      Remember(key);
      return false;
    }

    for (int c : choices) {
      Place(c, level);
      const bool found = Dfs();
      if (found) return true;
      Unplace(c, level);
      if (timed_out_) return false;
    }

    // Nothing sits at `level` in `chosen`: raise its floor to the lowest
    // offset a buffer covering it can still take. Beyond the current floors,
    // a buffer can only rest on one placed later, at least `level` + the
    // smallest unplaced size.
    uint64_t smallest = UINT64_MAX;
    for (size_t i = 0; i < items_.size(); ++i) {
      if (!placed_[i] && items_[i].size < smallest) smallest = items_[i].size;
    }
    uint64_t raised = UINT64_MAX;
    for (int c : cover_[chosen]) {
      if (placed_[c]) continue;
      const Item& item = items_[c];
      uint64_t offset = LowestOffset(c);
      if (offset <= level) offset = AlignUp(level + std::max<uint64_t>(smallest, 1), item.alignment);
      raised = std::min(raised, offset);
    }
    if (raised != UINT64_MAX && raised <= target_ && remaining_[chosen] <= target_ - raised) {
      floor_[chosen] = raised;
      const bool found = Dfs();
      floor_[chosen] = level;
      if (found) return true;
    }
    if (!timed_out_) Remember(key);
    return false;
  }

  void Remember(const StateKey& key) {
    if (failed_.size() >= kMaxRemembered) failed_.clear();
    failed_.insert(key);
  }

  void Place(int c, uint64_t level) {
    const Item& item = items_[c];
    placed_[c] = 1;
    offsets_[c] = level;
    placed_hash_ ^= item.key;
    for (int s = item.lo; s <= item.hi; ++s) {
      floor_[s] = level + item.size;
      remaining_[s] -= item.size;
    }
  }

  void Unplace(int c, uint64_t level) {
    const Item& item = items_[c];
    placed_[c] = 0;
    placed_hash_ ^= item.key;
    for (int s = item.lo; s <= item.hi; ++s) {
      floor_[s] = level;
      remaining_[s] += item.size;
    }
  }

  uint64_t target_;
  std::chrono::steady_clock::time_point deadline_;
  bool has_deadline_;
  std::vector<Item> items_;
  std::vector<std::vector<int>> cover_;
  std::vector<uint64_t> floor_;
  std::vector<uint64_t> remaining_;
  std::vector<char> placed_;
  std::vector<uint64_t> offsets_;
  uint64_t placed_hash_ = 0;
  std::unordered_set<StateKey, StateKeyHash> failed_;
  uint64_t nodes_ = 0;
  bool timed_out_ = false;
  std::vector<uint64_t> lowest_;
  std::vector<std::pair<uint64_t, uint64_t>> scratch_;
};

}  // namespace

SearchResult SearchOffsets(const std::vector<PlanBuffer>& buffers, uint64_t target,
                           std::chrono::steady_clock::time_point deadline, bool has_deadline) {
  SearchResult result;
  std::vector<uint64_t> offsets(buffers.size(), 0);
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
    std::vector<size_t> members(order.begin() + begin, order.begin() + end);
    ComponentSearch search(buffers, members, target, deadline, has_deadline);
    const SearchOutcome outcome = search.Run(&result.nodes);
    if (outcome != SearchOutcome::kFound) {
      result.outcome = outcome;
      return result;
    }
    search.WriteOffsets(&offsets);
    begin = end;
  }
  result.outcome = SearchOutcome::kFound;
  result.offsets = std::move(offsets);
  return result;
}

}  // namespace serenity::scheduler::internal
