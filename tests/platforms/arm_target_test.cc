// Checks of the target a build was made for, meaningful on ARM cross builds
// (platforms/toolchains/*.cmake) and trivially true elsewhere.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace {

// XNNPACK's fast kernels need NEON; 32-bit Debian armhf compilers default to
// VFPv3-D16 without it, so a Raspberry Pi build that forgot -mfpu would
// silently lose its vector code in Serenity's own sources.
TEST(ArmTargetTest, NeonIsOnForArmBuilds) {
#if defined(__aarch64__) || defined(__arm__)
#if defined(__ARM_NEON) || defined(__ARM_NEON__)
  SUCCEED();
#else
  FAIL() << "ARM build without NEON: build with the toolchain files in "
            "platforms/toolchains (-mfpu=neon-fp-armv8 -mfloat-abi=hard on armhf)";
#endif
#else
  GTEST_SKIP() << "not an ARM build";
#endif
}

TEST(ArmTargetTest, PointerWidthMatchesTheArchitecture) {
#if defined(__aarch64__) || defined(__x86_64__)
  EXPECT_EQ(sizeof(void*), 8u);
#elif defined(__arm__)
  EXPECT_EQ(sizeof(void*), 4u);
#else
  GTEST_SKIP() << "unknown architecture";
#endif
}

// Cross builds run their tests through CMAKE_CROSSCOMPILING_EMULATOR, which
// sets SERENITY_UNDER_EMULATION=1 so that tests can shrink their inputs
// (qemu is 100-500x slower). This checks the variable really arrives.
TEST(ArmTargetTest, EmulatedRunsSeeSerenityUnderEmulation) {
#if defined(SERENITY_EXPECT_EMULATION)
  const char* value = std::getenv("SERENITY_UNDER_EMULATION");
  ASSERT_NE(value, nullptr) << "SERENITY_UNDER_EMULATION is not set under the emulator";
  EXPECT_STREQ(value, "1");
#else
  GTEST_SKIP() << "native build";
#endif
}

}  // namespace
