// The oracle for every planner. Kept independent of the planners' code on
// purpose: it shares no helpers with arena_planner*.cc, so a bug there cannot
// hide itself here.
#include <algorithm>
#include <iterator>
#include <vector>

#include "serenity/scheduler/alias.h"
#include "serenity/scheduler/arena_planner.h"

namespace serenity::scheduler {

Status ValidateArenaPlan(const std::vector<PlanBuffer>& buffers, const ArenaPlan& plan,
                         uint64_t read_past_bytes) {
  const size_t n = buffers.size();
  if (plan.offsets.size() != n) {
    return InvalidArgumentError("plan has ", plan.offsets.size(), " offsets for ", n, " buffers");
  }
  for (size_t i = 0; i < n; ++i) {
    const PlanBuffer& b = buffers[i];
    const uint64_t offset = plan.offsets[i];
    if (b.first > b.last) {
      return InvalidArgumentError("buffer ", i, ": live range [", b.first, ", ", b.last,
                                  "] is empty");
    }
    if (b.alignment == 0) return InvalidArgumentError("buffer ", i, ": alignment is 0");
    if (offset % b.alignment != 0) {
      return InvalidArgumentError("buffer ", i, ": offset ", offset,
                                  " is not a multiple of its alignment ", b.alignment);
    }
    // Compared by subtraction so that huge offsets cannot wrap around.
    if (offset > plan.arena_bytes || b.size > plan.arena_bytes - offset) {
      return InvalidArgumentError("buffer ", i, ": bytes [", offset, ", ", offset, " + ", b.size,
                                  ") end outside the arena of ", plan.arena_bytes, " bytes");
    }
    if (read_past_bytes > plan.arena_bytes - offset - b.size) {
      return InvalidArgumentError("buffer ", i, ": a read of ", read_past_bytes,
                                  " bytes past its end at ", offset + b.size,
                                  " leaves the arena of ", plan.arena_bytes, " bytes");
    }
  }

  // A sweep over the steps: the buffers live at one step never share bytes,
  // so, kept in offset order, a buffer that starts being live conflicts with
  // one of them exactly when it overlaps its neighbour below or above. Each
  // buffer is compared with two others, not with every buffer whose bytes
  // it overlaps at some step (a plan cache hit validates a thousand buffers
  // on a packed arena, where that was most of them).
  std::vector<size_t> by_first;  // buffers that take bytes, by first step
  by_first.reserve(n);
  int min_first = 0, max_first = 0;
  for (size_t i = 0; i < n; ++i) {
    if (buffers[i].size == 0) continue;
    if (by_first.empty() || buffers[i].first < min_first) min_first = buffers[i].first;
    if (by_first.empty() || buffers[i].first > max_first) max_first = buffers[i].first;
    by_first.push_back(i);
  }
  const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(max_first) - min_first) + 1;
  if (span <= 2 * static_cast<uint64_t>(n) + 1024) {
    // Steps of a real plan are operator positions: a counting sort.
    std::vector<size_t> start(span + 1, 0);
    for (size_t i : by_first) ++start[buffers[i].first - min_first + 1];
    for (size_t s = 0; s < span; ++s) start[s + 1] += start[s];
    std::vector<size_t> sorted(by_first.size());
    for (size_t i : by_first) sorted[start[buffers[i].first - min_first]++] = i;
    by_first.swap(sorted);
  } else {
    std::stable_sort(by_first.begin(), by_first.end(),
                     [&](size_t a, size_t b) { return buffers[a].first < buffers[b].first; });
  }
  struct Live {
    uint64_t offset;
    uint64_t end;
    int last;
    size_t index;
  };
  std::vector<Live> live;  // ascending offset, pairwise disjoint in bytes
  int step = 0;
  for (size_t x = 0; x < by_first.size(); ++x) {
    const size_t j = by_first[x];
    const PlanBuffer& b = buffers[j];
    if (x == 0 || b.first != step) {
      step = b.first;
      live.erase(std::remove_if(live.begin(), live.end(),
                                [&](const Live& l) { return l.last < step; }),
                 live.end());
    }
    const uint64_t offset = plan.offsets[j];
    const uint64_t end = offset + b.size;
    auto above = std::lower_bound(live.begin(), live.end(), offset,
                                  [](const Live& l, uint64_t o) { return l.offset < o; });
    const Live* hit = nullptr;
    if (above != live.begin() && std::prev(above)->end > offset) hit = &*std::prev(above);
    if (hit == nullptr && above != live.end() && above->offset < end) hit = &*above;
    if (hit != nullptr) {
      const size_t lo = std::min(hit->index, j);
      const size_t hi = std::max(hit->index, j);
      return InvalidArgumentError(
          "buffers ", lo, " and ", hi, " are both live at step ", step,
          " and overlap in bytes: [", plan.offsets[lo], ", ", plan.offsets[lo] + buffers[lo].size,
          ") and [", plan.offsets[hi], ", ", plan.offsets[hi] + buffers[hi].size, ")");
    }
    live.insert(above, Live{offset, end, b.last, j});
  }
  return Status::Ok();
}

// By enumeration on purpose (alias.cc has the closed form): every input row
// that an output row r >= 1 reads, with each of its kernel rows, must still
// be intact after the copy of output rows [0, e) for every band end e <= r.
// The copies only grow with e, so the band end e = r decides for each read:
// one pass over the (row, kernel row) pairs, not one per band end. A read
// that fails is overwritten first at the smallest e whose copy reaches it;
// the message names the smallest such e over all failing reads, and the
// first row that e overwrites, as a pass over every band end would.
Status ValidateWindowedWrite(const WindowedConvGeometry& g, uint64_t input_offset,
                             uint64_t output_offset) {
  if (g.in_rows < 0 || g.out_rows < 0 || g.in_row_bytes < 0 || g.out_row_bytes < 0 ||
      g.stride < 1 || g.dilation < 1 || g.kernel < 1) {
    return InvalidArgumentError("windowed convolution: invalid geometry");
  }
  const uint64_t out_begin = output_offset;
  auto written_end = [&](int64_t e) {
    return out_begin + static_cast<uint64_t>(e * g.out_row_bytes);
  };
  // The input rows overwritten at band end e that output rows >= e read.
  auto first_overwritten = [&](int64_t e, int64_t* read_by, int64_t* input_row) {
    for (int64_t r = e; r < g.out_rows; ++r) {
      for (int64_t k = 0; k < g.kernel; ++k) {
        const int64_t row = r * g.stride - g.pad_top + k * g.dilation;
        if (row < 0 || row >= g.in_rows) continue;
        const uint64_t row_begin = input_offset + static_cast<uint64_t>(row * g.in_row_bytes);
        const uint64_t row_end = row_begin + static_cast<uint64_t>(g.in_row_bytes);
        if (row_begin < written_end(e) && out_begin < row_end) {
          *read_by = r;
          *input_row = row;
          return true;
        }
      }
    }
    return false;
  };
  int64_t first_e = -1;  // the smallest band end that overwrites a pending read
  for (int64_t r = 1; r < g.out_rows; ++r) {
    for (int64_t k = 0; k < g.kernel; ++k) {
      const int64_t row = r * g.stride - g.pad_top + k * g.dilation;
      if (row < 0 || row >= g.in_rows) continue;
      const uint64_t row_begin = input_offset + static_cast<uint64_t>(row * g.in_row_bytes);
      const uint64_t row_end = row_begin + static_cast<uint64_t>(g.in_row_bytes);
      if (!(row_begin < written_end(r) && out_begin < row_end)) continue;
      // The smallest e >= 1 whose copy ends above row_begin.
      int64_t e = 1;
      if (row_begin >= out_begin && g.out_row_bytes > 0) {
        e = std::max<int64_t>(
            1, static_cast<int64_t>((row_begin - out_begin) / g.out_row_bytes) + 1);
      }
      if (first_e < 0 || e < first_e) first_e = e;
    }
  }
  if (first_e < 0) return Status::Ok();
  int64_t read_by = -1, input_row = -1;
  first_overwritten(first_e, &read_by, &input_row);
  const uint64_t row_begin = input_offset + static_cast<uint64_t>(input_row * g.in_row_bytes);
  return InvalidArgumentError(
      "windowed convolution: copying out output rows [0, ", first_e, ") writes bytes [",
      out_begin, ", ", written_end(first_e), "), over input row ", input_row, " at [", row_begin,
      ", ", row_begin + static_cast<uint64_t>(g.in_row_bytes), "), which output row ", read_by,
      " still reads");
}

}  // namespace serenity::scheduler
