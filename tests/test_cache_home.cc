// Linked into every GoogleTest executable: the engine's plan cache (default
// $XDG_CACHE_HOME/serenity) goes to a directory of the build tree, which
// ctest empties at the start of each run (serenity_test_cache_clear), never
// to the user's cache. Set before main, so before any test runs.
#include <stdlib.h>

#ifndef SERENITY_TEST_CACHE_HOME
#error "SERENITY_TEST_CACHE_HOME must name the tests' cache home"
#endif

namespace {

struct TestCacheHome {
  TestCacheHome() { ::setenv("XDG_CACHE_HOME", SERENITY_TEST_CACHE_HOME, 1); }
};
const TestCacheHome test_cache_home;

}  // namespace
