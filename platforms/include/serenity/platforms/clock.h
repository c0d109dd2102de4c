// Monotonic time for benchmarks, budgets and profiling.
#ifndef SERENITY_PLATFORMS_CLOCK_H_
#define SERENITY_PLATFORMS_CLOCK_H_

#include <cstdint>

namespace serenity::platforms {

// Seconds on a monotonic clock with an arbitrary origin.
double NowSeconds();

// CPU time the calling thread has used, in seconds; NowSeconds() where the
// platform has no per-thread CPU clock.
double ThreadCpuSeconds();

// Peak resident set size of this process in bytes, or 0 where unknown.
uint64_t PeakRssBytes();

}  // namespace serenity::platforms

#endif  // SERENITY_PLATFORMS_CLOCK_H_
