// Internal to Serenity, never installed: the 64-bit hash behind
// Model::GraphHash and the plan cache's option key. FNV-1a's offset basis
// and prime, fed one 64-bit word at a time with an extra shift-xor, and a
// final avalanche (MurmurHash3's fmix64 constants) that spreads the last
// words. Changing it changes every graph hash, so every stored plan.
#ifndef SERENITY_INTERNAL_HASH64_H_
#define SERENITY_INTERNAL_HASH64_H_

#include <cstdint>

namespace serenity::internal {

class Hash64 {
 public:
  void Word(uint64_t word) {
    state_ ^= word;
    state_ *= 0x100000001b3ULL;
    state_ ^= state_ >> 29;
  }
  uint64_t Final() const {
    uint64_t h = state_;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  uint64_t state_ = 0xcbf29ce484222325ULL;
};

}  // namespace serenity::internal

#endif  // SERENITY_INTERNAL_HASH64_H_
