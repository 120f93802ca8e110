// Goal: the ledger's peak usage is exact for half-open intervals and hold
// expiry, finds long usages that start far left of the span, and keeps its
// indexes consistent through Remove, SetExpiry, Prune and copies; its memo
// of the last answer never outlives a change or an expiry. Method: boundary
// cases by hand, then random ledgers and random histories against a
// per-second count.
#include "domain/ledger.h"

#include <gtest/gtest.h>

#include <random>

namespace bookd::domain {
namespace {

Usage U(Instant start, Instant end, std::int64_t quantity, Instant expires_at = kForever) {
  return Usage{start, end, quantity, expires_at};
}

TEST(Ledger, TouchingIntervalsDoNotOverlap) {
  Ledger l;
  l.Add("a", U(100, 200, 1));
  l.Add("b", U(200, 300, 1));
  EXPECT_EQ(l.PeakUsage({100, 300}, 0), 1);
  EXPECT_EQ(l.PeakUsage({200, 201}, 0), 1);
  EXPECT_EQ(l.PeakUsage({199, 200}, 0), 1);
  EXPECT_EQ(l.PeakUsage({300, 400}, 0), 0);
  EXPECT_EQ(l.PeakUsage({0, 100}, 0), 0);
  EXPECT_EQ(l.PeakUsage({150, 150}, 0), 0);  // empty span
}

TEST(Ledger, OverlapsAddUp) {
  Ledger l;
  l.Add("a", U(100, 200, 2));
  l.Add("b", U(150, 250, 3));
  l.Add("c", U(180, 190, 1));
  EXPECT_EQ(l.PeakUsage({0, 1000}, 0), 6);
  EXPECT_EQ(l.PeakUsage({190, 1000}, 0), 5);
  EXPECT_EQ(l.PeakUsage({200, 1000}, 0), 3);
  EXPECT_TRUE(l.Fits({0, 1000}, 4, 10, 0));
  EXPECT_FALSE(l.Fits({0, 1000}, 5, 10, 0));
}

TEST(Ledger, HoldStopsCountingAtExpiresAtExactly) {
  Ledger l;
  l.Add("held", U(100, 200, 1, /*expires_at=*/50));
  EXPECT_EQ(l.PeakUsage({100, 200}, 49), 1);
  EXPECT_EQ(l.PeakUsage({100, 200}, 50), 0);
  EXPECT_EQ(l.PeakUsage({100, 200}, 51), 0);
  EXPECT_EQ(l.Overlapping({100, 200}, 49).size(), 1u);
  EXPECT_TRUE(l.Overlapping({100, 200}, 50).empty());
}

TEST(Ledger, RemoveAndSetExpiry) {
  Ledger l;
  l.Add("a", U(100, 200, 1, 50));
  l.Add("a", U(300, 400, 2, 50));
  l.Add("b", U(100, 400, 1));
  EXPECT_EQ(l.size(), 3u);
  EXPECT_EQ(l.PeakUsage({0, 1000}, 60), 1);

  l.SetExpiry("a", kForever);  // confirmed
  EXPECT_EQ(l.PeakUsage({0, 1000}, 60), 3);

  l.Remove("a");
  EXPECT_EQ(l.size(), 1u);
  EXPECT_EQ(l.PeakUsage({0, 1000}, 60), 1);
  l.Remove("a");  // idempotent
  l.Remove("unknown");
  EXPECT_EQ(l.size(), 1u);
  l.SetExpiry("b", 10);
  EXPECT_EQ(l.PeakUsage({0, 1000}, 60), 0);
}

TEST(Ledger, LongUsageFarLeftOfTheSpanIsFound) {
  Ledger l;
  l.Add("long", U(0, 1'000'000, 1));
  for (int i = 0; i < 100; ++i) l.Add("short" + std::to_string(i), U(10 * i, 10 * i + 5, 1));
  EXPECT_EQ(l.PeakUsage({999'990, 999'999}, 0), 1);
  EXPECT_EQ(l.PeakUsage({1'000'000, 1'000'001}, 0), 0);
  EXPECT_EQ(l.Overlapping({500'000, 500'001}, 0).size(), 1u);
}

TEST(Ledger, PruneDropsEndedAndExpiredAndKeepsIndexes) {
  Ledger l;
  l.Add("ended", U(0, 100, 1));
  l.Add("expired", U(500, 600, 1, 40));
  l.Add("live", U(500, 600, 1));
  l.Add("live", U(50, 150, 1));
  l.Prune(/*before=*/100, /*now=*/50);
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.PeakUsage({0, 1000}, 50), 1);
  l.Remove("live");
  EXPECT_EQ(l.size(), 0u);
}

TEST(Ledger, CopiesHaveTheirOwnIndex) {
  Ledger a;
  a.Add("x", U(0, 10, 1));
  Ledger b = a;
  a.Remove("x");
  EXPECT_EQ(b.size(), 1u);
  b.Remove("x");  // would touch a's freed nodes if the index were shared
  EXPECT_EQ(b.size(), 0u);
  Ledger c;
  c = b;
  c.Add("y", U(0, 10, 1));
  Ledger d = std::move(c);
  d.Remove("y");
  EXPECT_EQ(d.size(), 0u);
}

TEST(Ledger, MatchesPerSecondCountOnRandomData) {
  std::mt19937 rng(42);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int round = 0; round < 300; ++round) {
    Ledger l;
    std::vector<Usage> all;
    int n = pick(0, 25);
    for (int i = 0; i < n; ++i) {
      Instant start = pick(0, 90);
      Usage u = U(start, start + pick(1, round % 3 == 0 ? 100 : 15), pick(1, 3),
                  pick(0, 3) == 0 ? pick(0, 20) : kForever);
      all.push_back(u);
      l.Add("b" + std::to_string(pick(0, 8)), u);
    }
    for (int q = 0; q < 20; ++q) {
      Interval span{pick(-10, 110), 0};
      span.end = span.start + pick(0, 40);
      Instant now = pick(0, 20);
      std::int64_t want = 0;
      for (Instant t = span.start; t < span.end; ++t) {
        std::int64_t used = 0;
        for (const Usage& u : all) {
          if (u.start <= t && t < u.end && u.expires_at > now) used += u.quantity;
        }
        want = std::max(want, used);
      }
      ASSERT_EQ(l.PeakUsage(span, now), want)
          << "round " << round << " span [" << span.start << "," << span.end << ") now " << now;
      std::size_t overlapping = 0;
      for (const Usage& u : all) {
        overlapping += u.start < span.end && u.end > span.start && u.expires_at > now;
      }
      ASSERT_EQ(l.Overlapping(span, now).size(), span.start < span.end ? overlapping : 0u);
    }
  }
}

std::int64_t PeakByCounting(const std::vector<std::pair<std::string, Usage>>& all, Interval span,
                            Instant now) {
  std::int64_t peak = 0;
  for (Instant t = span.start; t < span.end; ++t) {
    std::int64_t used = 0;
    for (const auto& [id, u] : all) {
      if (u.start <= t && t < u.end && u.expires_at > now) used += u.quantity;
    }
    peak = std::max(peak, used);
  }
  return peak;
}

TEST(Ledger, RepeatedSpanSeesEveryChange) {
  Ledger l;
  const Interval span{100, 200};
  l.Add("a", U(100, 200, 2));
  EXPECT_EQ(l.PeakUsage(span, 0), 2);
  l.Add("b", U(150, 160, 3, /*expires_at=*/40));
  EXPECT_EQ(l.PeakUsage(span, 0), 5);   // after Add
  EXPECT_EQ(l.PeakUsage(span, 39), 5);  // the hold still counts
  EXPECT_EQ(l.PeakUsage(span, 40), 2);  // and stops at its expiry
  EXPECT_EQ(l.PeakUsage(span, 10), 5);  // a clock that went back sees it again
  l.SetExpiry("b", kForever);
  EXPECT_EQ(l.PeakUsage(span, 50), 5);  // after SetExpiry
  l.Remove("a");
  EXPECT_EQ(l.PeakUsage(span, 50), 3);  // after Remove
  l.Prune(/*before=*/170, 50);
  EXPECT_EQ(l.PeakUsage(span, 50), 0);  // after Prune
  Ledger m;
  m.Add("c", U(100, 200, 7));
  EXPECT_EQ(m.PeakUsage(span, 50), 7);
  l = m;
  EXPECT_EQ(l.PeakUsage(span, 50), 7);  // after a copy
  Ledger n = std::move(m);
  EXPECT_EQ(n.PeakUsage(span, 50), 7);
  EXPECT_EQ(m.PeakUsage(span, 50), 0);  // NOLINT(bugprone-use-after-move): moved-from is empty
}

TEST(Ledger, MemoMatchesPerSecondCountOverRandomHistories) {
  std::mt19937 rng(7);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const Interval spans[] = {{10, 50}, {40, 60}, {0, 100}};
  for (int round = 0; round < 200; ++round) {
    Ledger l;
    std::vector<std::pair<std::string, Usage>> all;
    Instant now = 0;
    for (int step = 0; step < 60; ++step) {
      const std::string id = "b" + std::to_string(pick(0, 5));
      switch (pick(0, 9)) {
        case 0: {
          Instant start = pick(0, 90);
          Usage u =
              U(start, start + pick(1, 30), pick(1, 3), pick(0, 1) ? now + pick(1, 20) : kForever);
          l.Add(id, u);
          all.emplace_back(id, u);
          break;
        }
        case 1:
          l.Remove(id);
          std::erase_if(all, [&](const auto& e) { return e.first == id; });
          break;
        case 2: {
          Instant expires_at = pick(0, 1) ? kForever : now + pick(0, 10);
          l.SetExpiry(id, expires_at);
          for (auto& [i, u] : all) {
            if (i == id) u.expires_at = expires_at;
          }
          break;
        }
        case 3: {
          Instant before = pick(0, 60);
          l.Prune(before, now);
          std::erase_if(all, [&](const auto& e) {
            return e.second.end <= before || e.second.expires_at <= now;
          });
          break;
        }
        case 4:
          now = std::max<Instant>(0, now - pick(0, 5));  // the clock steps back
          break;
        default:
          now += pick(0, 3);
          break;
      }
      if (step % 17 == 16) {  // the rest of the history runs on a copy moved back
        Ledger copy = l;
        l = std::move(copy);
      }
      // Every usage is indexed once: none lost, none left behind.
      ASSERT_EQ(l.size(), all.size()) << "round " << round << " step " << step;
      // One span per step, so that the memo is asked again after most changes.
      const Interval span = spans[pick(0, 2)];
      ASSERT_EQ(l.PeakUsage(span, now), PeakByCounting(all, span, now))
          << "round " << round << " step " << step << " span [" << span.start << "," << span.end
          << ") now " << now;
    }
  }
}

}  // namespace
}  // namespace bookd::domain
