// The oracle for every planner. Kept independent of the planners' code on
// purpose: it shares no helpers with arena_planner*.cc, so a bug there cannot
// hide itself here.
#include <algorithm>
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

  // Sweep in offset order: once a buffer starts at or above the end of
  // `i`, no later one can overlap `i` in bytes. The buffers that take bytes
  // are copied side by side in that order first, so that the sweep reads
  // one array front to back (a plan cache hit validates a thousand buffers).
  struct Placed {
    uint64_t offset;
    uint64_t end;
    int first;
    int last;
    size_t index;
  };
  std::vector<Placed> placed;
  placed.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (buffers[i].size == 0) continue;
    placed.push_back({plan.offsets[i], plan.offsets[i] + buffers[i].size, buffers[i].first,
                      buffers[i].last, i});
  }
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.index < b.index;
  });
  for (size_t x = 0; x < placed.size(); ++x) {
    const Placed& i = placed[x];
    for (size_t y = x + 1; y < placed.size() && placed[y].offset < i.end; ++y) {
      const Placed& j = placed[y];
      if (i.last < j.first || j.last < i.first) continue;
      const size_t lo = std::min(i.index, j.index);
      const size_t hi = std::max(i.index, j.index);
      return InvalidArgumentError(
          "buffers ", lo, " and ", hi, " are both live at step ", std::max(i.first, j.first),
          " and overlap in bytes: [", plan.offsets[lo], ", ", plan.offsets[lo] + buffers[lo].size,
          ") and [", plan.offsets[hi], ", ", plan.offsets[hi] + buffers[hi].size, ")");
    }
  }
  return Status::Ok();
}

// Brute force on purpose (alias.cc has the closed form): after the copy of
// output rows [0, e), each input row that some output row r >= e reads, with
// each of its kernel rows, must still be intact.
Status ValidateWindowedWrite(const WindowedConvGeometry& g, uint64_t input_offset,
                             uint64_t output_offset) {
  if (g.in_rows < 0 || g.out_rows < 0 || g.in_row_bytes < 0 || g.out_row_bytes < 0 ||
      g.stride < 1 || g.dilation < 1 || g.kernel < 1) {
    return InvalidArgumentError("windowed convolution: invalid geometry");
  }
  const uint64_t out_begin = output_offset;
  for (int64_t e = 1; e < g.out_rows; ++e) {
    const uint64_t written_end = out_begin + static_cast<uint64_t>(e * g.out_row_bytes);
    for (int64_t r = e; r < g.out_rows; ++r) {
      for (int64_t k = 0; k < g.kernel; ++k) {
        const int64_t row = r * g.stride - g.pad_top + k * g.dilation;
        if (row < 0 || row >= g.in_rows) continue;
        const uint64_t row_begin = input_offset + static_cast<uint64_t>(row * g.in_row_bytes);
        const uint64_t row_end = row_begin + static_cast<uint64_t>(g.in_row_bytes);
        if (row_begin < written_end && out_begin < row_end) {
          return InvalidArgumentError(
              "windowed convolution: copying out output rows [0, ", e, ") writes bytes [",
              out_begin, ", ", written_end, "), over input row ", row, " at [", row_begin, ", ",
              row_end, "), which output row ", r, " still reads");
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace serenity::scheduler
