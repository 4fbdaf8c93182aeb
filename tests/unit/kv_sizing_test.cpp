#include "engine/kv_sizing.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

TEST(KvSizing, ParsesBinaryAndDecimalSizes) {
  EXPECT_EQ(*parse_byte_size("4GiB"), 4ll << 30);
  EXPECT_EQ(*parse_byte_size("512MiB"), 512ll << 20);
  EXPECT_EQ(*parse_byte_size("2G"), 2ll << 30);
  EXPECT_EQ(*parse_byte_size("1.5GB"), 1500000000ll);
  EXPECT_EQ(*parse_byte_size("1000"), 1000);
  EXPECT_EQ(*parse_byte_size("64 mib"), 64ll << 20);
  EXPECT_FALSE(parse_byte_size("lots").ok());
  EXPECT_FALSE(parse_byte_size("4 parsecs").ok());
  EXPECT_FALSE(parse_byte_size("-1G").ok());
  EXPECT_FALSE(parse_byte_size("0").ok());
}

TEST(KvSizing, RequestedBudgetBuysWholeBlocks) {
  // 1,000 bytes per token, 16-token blocks: 16,000 bytes a block.
  auto b = plan_kv_budget(1'000'000, 1000, 16, 512, 0);
  ASSERT_TRUE(b.ok()) << b.message();
  EXPECT_EQ(b->num_blocks, 62);
  EXPECT_EQ(b->num_tokens, 62 * 16);
  EXPECT_EQ(b->bytes, 62 * 16000);
}

TEST(KvSizing, TooSmallForOneContextSaysWhatToChange) {
  auto b = plan_kv_budget(100'000, 1000, 16, 512, 0);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.message().find("--max-model-len"), std::string::npos);
}

TEST(KvSizing, DefaultIsAQuarterOfAvailableCappedAndAtLeastOneContext) {
  auto b = plan_kv_budget(0, 1000, 16, 512, 64'000'000);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->num_blocks, 16'000'000 / 16000);
  auto small = plan_kv_budget(0, 1000, 16, 8192, 20'000'000);  // a quarter is < one context
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->num_tokens, 8192);
  EXPECT_FALSE(plan_kv_budget(0, 1000, 16, 8192, 1'000'000).ok());
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(KvSizing, RequestBeyondAvailableMemoryIsRefused) {
  auto b = plan_kv_budget(8'000'000, 1000, 16, 512, 4'000'000);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.message().find("available"), std::string::npos);
}

}  // namespace
}  // namespace kiln
