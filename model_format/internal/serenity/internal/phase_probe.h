// Developer instrumentation of a plan cache hit's phases (issue 9): built
// only with -DSERENITY_PHASE_PROBE=ON, and then printing only when the
// environment has SERENITY_PHASES set. Each Mark prints the wall time and
// the minor page faults since the previous Mark (or since Mark(nullptr)),
// one line on stderr:
//
//   cmake --preset release -DSERENITY_PHASE_PROBE=ON && cmake --build --preset release
//   SERENITY_PHASES=1 build/release/bench/plan_cache_bench --one-fresh-hit
//       --cache-dir DIR MODEL.srn      (one command line)
//
// In every other build Mark compiles to nothing (the library never prints).
// Not thread-safe: one Prepare at a time.
#ifndef SERENITY_INTERNAL_PHASE_PROBE_H_
#define SERENITY_INTERNAL_PHASE_PROBE_H_

#ifdef SERENITY_PHASE_PROBE
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#endif

namespace serenity::probe {

#ifdef SERENITY_PHASE_PROBE
inline void Mark(const char* phase) {
  static const bool enabled = std::getenv("SERENITY_PHASES") != nullptr;
  static double last_us = 0;
  static long last_faults = 0;
  if (!enabled) return;
  auto now_us = [] {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e6 + now.tv_nsec * 1e-3;
  };
  auto faults = [] {
    rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_minflt;
  };
  const double now = now_us();
  const long faults_now = faults();
  if (phase != nullptr) {
    std::fprintf(stderr, "phase %-26s %8.1f us %5ld faults\n", phase, now - last_us,
                 faults_now - last_faults);
  }
  // Restarted after printing, so the print is not charged to the next phase.
  last_us = now_us();
  last_faults = faults();
}
#else
inline void Mark(const char*) {}
#endif

}  // namespace serenity::probe

#endif  // SERENITY_INTERNAL_PHASE_PROBE_H_
