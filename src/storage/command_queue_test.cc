// Goal: the queue between submitting threads and a writer answers every
// command exactly once, refuses what it cannot take with the right problem,
// keeps an Idempotency-Key exclusive while its command is queued or running
// and frees it before the answer, and drains on Close. Method: commands
// whose `done` records the outcome, a writer played by the test's thread,
// and one real writer thread against submitters for the exactly-once count.
#include "storage/command_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

namespace bookd::storage {
namespace {

struct Answers {
  std::vector<WriteOutcome> got;
};

Command Cmd(std::shared_ptr<Answers> answers, std::optional<std::string> key = std::nullopt) {
  Command c;
  c.tenant = "t";
  c.op = CreateResource{};
  if (key) c.idempotency = Idempotency{"k_1", *key, "hash"};
  c.done = [answers](WriteOutcome o) { answers->got.push_back(std::move(o)); };
  return c;
}

Errc CodeOf(const WriteOutcome& o) {
  const auto* e = std::get_if<Error>(&o.value);
  return e == nullptr ? Errc::kInternal : e->code;
}

std::vector<WriteOutcome> Successes(std::size_t n) {
  return std::vector<WriteOutcome>(n, WriteOutcome{std::monostate{}, std::nullopt});
}

TEST(CommandQueue, AFullQueueRefusesWithRetryAfter) {
  CommandQueue q(2);
  auto a = std::make_shared<Answers>();
  for (int i = 0; i < 3; ++i) q.Submit(Cmd(a));
  ASSERT_EQ(a->got.size(), 1u);  // only the third, at once
  EXPECT_EQ(CodeOf(a->got[0]), Errc::kOverloaded);
  EXPECT_EQ(std::get<Error>(a->got[0].value).retry_after_s, 1);
  EXPECT_EQ(q.Stats().queue_depth, 2u);
}

TEST(CommandQueue, BatchesAreOldestFirstAndBounded) {
  CommandQueue q(10);
  auto a = std::make_shared<Answers>();
  for (int i = 0; i < 5; ++i) {
    Command c = Cmd(a);
    c.tenant = std::to_string(i);
    q.Submit(std::move(c));
  }
  std::vector<Command> batch;
  ASSERT_TRUE(q.TakeBatch(batch, 3));
  ASSERT_EQ(batch.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(batch[i].tenant, std::to_string(i));
  const StoreStats s = q.Stats();
  EXPECT_EQ(s.batches, 1u);
  EXPECT_EQ(s.batched_commands, 3u);
  EXPECT_EQ(s.queue_depth, 2u);
}

TEST(CommandQueue, AnIdempotencyKeyIsExclusiveUntilItsAnswer) {
  CommandQueue q(10);
  auto a = std::make_shared<Answers>();
  q.Submit(Cmd(a, "x"));
  q.Submit(Cmd(a, "x"));  // queued: refused
  ASSERT_EQ(a->got.size(), 1u);
  EXPECT_EQ(CodeOf(a->got[0]), Errc::kConflict);

  std::vector<Command> batch;
  ASSERT_TRUE(q.TakeBatch(batch, 10));
  q.Submit(Cmd(a, "x"));  // running: refused
  ASSERT_EQ(a->got.size(), 2u);
  EXPECT_EQ(CodeOf(a->got[1]), Errc::kConflict);
  q.Submit(Cmd(a, "y"));  // another key is not held up
  EXPECT_EQ(a->got.size(), 2u);

  // The key is free by the time `done` runs: a retry from inside the answer
  // is queued, not refused.
  batch[0].done = [&q, a](WriteOutcome o) {
    a->got.push_back(std::move(o));
    q.Submit(Cmd(a, "x"));
  };
  auto outcomes = Successes(1);
  q.Answer(batch, outcomes);
  ASSERT_EQ(a->got.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(a->got[2].value));
  EXPECT_EQ(q.Stats().queue_depth, 2u);  // "y" and the retry of "x"
}

TEST(CommandQueue, CloseRefusesNewCommandsAndDrainsQueuedOnes) {
  CommandQueue q(10);
  auto a = std::make_shared<Answers>();
  q.Submit(Cmd(a));
  q.Close();
  q.Close();  // idempotent
  q.Submit(Cmd(a));
  ASSERT_EQ(a->got.size(), 1u);
  EXPECT_EQ(CodeOf(a->got[0]), Errc::kOverloaded);

  std::vector<Command> batch;
  ASSERT_TRUE(q.TakeBatch(batch, 10));  // what was queued before Close
  EXPECT_EQ(batch.size(), 1u);
  batch.clear();
  EXPECT_FALSE(q.TakeBatch(batch, 10));  // closed and drained: no wait
  EXPECT_TRUE(batch.empty());
}

TEST(CommandQueue, EveryCommandIsAnsweredOnceUnderConcurrentSubmitters) {
  constexpr int kThreads = 4;
  constexpr int kEach = 2000;
  CommandQueue q(kThreads * kEach);
  std::atomic<int> answered{0};
  std::thread writer([&] {
    std::vector<Command> batch;
    std::vector<WriteOutcome> outcomes;
    while (q.TakeBatch(batch, 64)) {
      outcomes = Successes(batch.size());
      q.Answer(batch, outcomes);
      batch.clear();
    }
  });
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        Command c;
        c.op = CreateResource{};
        c.done = [&answered](WriteOutcome o) {
          EXPECT_TRUE(std::holds_alternative<std::monostate>(o.value));
          answered.fetch_add(1);
        };
        q.Submit(std::move(c));
      }
    });
  }
  for (auto& s : submitters) s.join();
  q.Close();
  writer.join();
  EXPECT_EQ(answered.load(), kThreads * kEach);
  EXPECT_EQ(q.Stats().batched_commands, static_cast<std::uint64_t>(kThreads * kEach));
}

}  // namespace
}  // namespace bookd::storage
