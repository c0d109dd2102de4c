// Writes a tiny test model (the BranchyNet of test_models.h) to a .srn file,
// for tests that run programs on a model file (examples, serenity_run).
#include <cstdio>

#include "test_models.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_test_model OUT.srn\n");
    return 1;
  }
  serenity::Result<std::vector<uint8_t>> bytes = serenity::runtime_testing::BranchyNet().Finish();
  serenity::Status status =
      bytes.ok() ? serenity::WriteFileAtomically(argv[1], *bytes) : bytes.status();
  if (!status.ok()) {
    std::fprintf(stderr, "write_test_model: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
