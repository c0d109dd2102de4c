// page_fault_bench (issue 9): what a fresh page of heap costs on this
// machine, the part of a plan cache hit in a fresh process that no
// instruction count shows (plan_cache_bench's "faults" column counts them).
//
//   page_fault_bench [--pages N] [--rounds K]
//
// Each round maps N fresh anonymous pages and writes one byte to each (one
// minor fault per page, the kernel zeroing it), then does the same on
// another N pages after asking the kernel to populate them in one call
// (MADV_POPULATE_WRITE, Linux 5.14 and later; "-" where the kernel refuses).
// Prints the microseconds per page of both, per round, and the fastest.
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

constexpr size_t kPageBytes = 4096;
#ifndef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = 23;  // <linux/mman.h>, for older headers
#else
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#endif

double NowUs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1e6 + now.tv_nsec * 1e-3;
}

// Microseconds per page to touch `pages` fresh pages, populated first when
// `populate`; negative when the mapping or the populate call fails.
double TouchUsPerPage(size_t pages, bool populate) {
  const size_t bytes = pages * kPageBytes;
  void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return -1.0;
  volatile char* bytes_of = static_cast<volatile char*>(mapped);
  const double start = NowUs();
  bool ok = !populate || madvise(mapped, bytes, kPopulateWrite) == 0;
  for (size_t offset = 0; ok && offset < bytes; offset += kPageBytes) bytes_of[offset] = 1;
  const double elapsed = NowUs() - start;
  munmap(mapped, bytes);
  return ok ? elapsed / static_cast<double>(pages) : -1.0;
}

}  // namespace

int main(int argc, char** argv) {
  size_t pages = 300;  // about what a fresh nasnet_cifar hit touches
  int rounds = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--pages" && i + 1 < argc) {
      pages = std::strtoul(argv[++i], nullptr, 10);
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: page_fault_bench [--pages N] [--rounds K]\n");
      return 2;
    }
  }
  if (pages == 0 || rounds <= 0) {
    std::fprintf(stderr, "page_fault_bench: --pages and --rounds must be positive\n");
    return 2;
  }
  double best_touch = -1.0, best_populated = -1.0;
  std::printf("%6s %16s %16s\n", "round", "touch us/page", "populated us/page");
  for (int r = 0; r < rounds; ++r) {
    const double touch = TouchUsPerPage(pages, false);
    const double populated = TouchUsPerPage(pages, true);
    if (touch >= 0 && (best_touch < 0 || touch < best_touch)) best_touch = touch;
    if (populated >= 0 && (best_populated < 0 || populated < best_populated)) {
      best_populated = populated;
    }
    std::printf("%6d %16.3f", r + 1, touch);
    if (populated >= 0) {
      std::printf(" %16.3f\n", populated);
    } else {
      std::printf(" %16s\n", "-");
    }
  }
  std::printf("fastest of %d rounds, %zu pages: touch %.3f us/page, populated %.3f us/page\n",
              rounds, pages, best_touch, best_populated);
  std::printf(
      "{\"pages\": %zu, \"rounds\": %d, \"touch_us_per_page\": %.3f, "
      "\"populated_us_per_page\": %.3f}\n",
      pages, rounds, best_touch, best_populated);
  return 0;
}
