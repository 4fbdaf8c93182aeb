// The draft-model proposer on a tiny random model: its guesses are the model's own greedy
// continuation (computed here from scratch, one Session per sequence), whatever it kept
// from earlier calls; it computes only the tokens it has not seen; sequences beyond its
// slots and beyond its length are handled.
#include <gtest/gtest.h>

#include <vector>

#include "engine/draft_model_proposer.h"
#include "engine/sampler.h"
#include "engine/session.h"
#include "tiny_model.h"
#include "util/thread_pool.h"

namespace kiln {
namespace {

using testing_tiny::load;
using testing_tiny::temp_path;
using testing_tiny::TinySpec;
using testing_tiny::write_tiny;

class DraftModelProposerTest : public testing::Test {
 protected:
  void SetUp() override {
    path_ = write_tiny(spec_, temp_path(""));
    auto l = load(path_, pool_);
    ASSERT_TRUE(l.ok()) << l.message();
    loaded_ = std::move(l).value();
  }
  Model& model() { return *loaded_.model; }

  // The reference: k greedy tokens after `tokens`, from a fresh session.
  std::vector<int32_t> greedy(const std::vector<int32_t>& tokens, int32_t k) {
    Session s(model(), 128);
    EXPECT_TRUE(s.append(tokens).ok());
    std::vector<int32_t> out;
    for (int32_t i = 0; i < k; ++i) {
      out.push_back(argmax(s.last_logits()));
      EXPECT_TRUE(s.append(std::vector<int32_t>{out.back()}).ok());
    }
    return out;
  }

  static std::vector<int32_t> prompt(int n, int salt) {
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back((i * 29 + salt * 7 + 3) % 64);
    return ids;
  }

  TinySpec spec_;
  std::string path_;
  ThreadPool pool_{2};
  testing_tiny::Loaded loaded_;
};

TEST_F(DraftModelProposerTest, GuessesAreTheDraftsGreedyContinuation) {
  DraftModelProposer p(model(), 128, 2);
  std::vector<int32_t> out;
  for (int32_t k : {1, 3, 6}) {
    const auto tokens = prompt(10 + k, k);
    p.propose(/*seq_id=*/k, tokens, k, out);
    EXPECT_EQ(out, greedy(tokens, k)) << "k " << k;
  }
}

TEST_F(DraftModelProposerTest, ComputesOnlyWhatItHasNotSeenAndStaysExact) {
  DraftModelProposer p(model(), 128, 1);
  std::vector<int32_t> tokens = prompt(20, 1), out;
  const int32_t k = 4;
  p.propose(7, tokens, k, out);
  // The prompt, then k - 1 guesses run to get the next ones.
  EXPECT_EQ(p.tokens_computed(), 20 + k - 1);
  // A step that accepted two guesses and added a token of the target's own (not the third
  // guess): the session keeps the prompt and those two, and runs the new token and the
  // next k - 1 guesses.
  const std::vector<int32_t> guesses = out;
  tokens.insert(tokens.end(), guesses.begin(), guesses.begin() + 2);
  tokens.push_back((guesses[2] + 1) % 64);
  const int64_t before = p.tokens_computed();
  p.propose(7, tokens, k, out);
  EXPECT_EQ(p.tokens_computed() - before, 1 + (k - 1));
  EXPECT_EQ(out, greedy(tokens, k));
  // Every guess accepted and one more token: only that token is new (the last guess was
  // never run, so it counts too).
  tokens.insert(tokens.end(), out.begin(), out.end());
  tokens.push_back(5);
  const int64_t before2 = p.tokens_computed();
  p.propose(7, tokens, k, out);
  EXPECT_EQ(p.tokens_computed() - before2, 2 + (k - 1));
  EXPECT_EQ(out, greedy(tokens, k));
}

TEST_F(DraftModelProposerTest, MoreSequencesThanSlotsRecomputeAndStayExact) {
  DraftModelProposer p(model(), 128, 2);
  std::vector<int32_t> out;
  for (int round = 0; round < 2; ++round) {
    for (int seq = 0; seq < 3; ++seq) {
      const auto tokens = prompt(12 + round, seq);
      p.propose(seq, tokens, 3, out);
      EXPECT_EQ(out, greedy(tokens, 3)) << "round " << round << " seq " << seq;
    }
  }
}

TEST_F(DraftModelProposerTest, NoGuessesPastItsLength) {
  DraftModelProposer p(model(), 32, 1);
  std::vector<int32_t> out = {1, 2};
  p.propose(0, prompt(30, 0), 3, out);  // 30 + 3 > 32
  EXPECT_TRUE(out.empty());
  p.propose(0, prompt(29, 0), 3, out);
  EXPECT_EQ(out, greedy(prompt(29, 0), 3));
}

}  // namespace
}  // namespace kiln
