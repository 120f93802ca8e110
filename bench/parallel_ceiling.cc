// bookd-parallel-ceiling: how much faster this machine runs two independent, perfectly parallel
// jobs on two threads than one after the other. It is the reference for the search benchmark's
// 1-to-2-thread speed-up (BENCHMARKS.md): no program on the machine can scale better than this.
//
// Two workloads, each run twice serially and then once per thread on two threads:
//   alu:    integer arithmetic in registers (what an ideal two-core machine scales 2.0x);
//   memory: a std::map of std::string that is filled and cleared, i.e. allocation and pointer
//           chasing, closer to what SQLite and JSON rendering do.
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace {

volatile unsigned long sink;

void Alu(long n) {
  unsigned long x = 1;
  for (long i = 0; i < n; ++i) x = x * 6364136223846793005ul + (x >> 7);
  sink = x;
}

void Memory(long n) {
  unsigned long x = 1;
  std::map<unsigned long, std::string> m;
  for (long i = 0; i < n; ++i) {
    x = x * 6364136223846793005ul + 1;
    m[x % 100000] = std::to_string(x);
    if (m.size() > 50000) m.clear();
  }
  sink = x;
}

double Seconds(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Measure(const char* name, void (*job)(long), long n) {
  const double serial = Seconds([&] {
    job(n);
    job(n);
  });
  const double parallel = Seconds([&] {
    std::thread a(job, n);
    std::thread b(job, n);
    a.join();
    b.join();
  });
  std::printf("%-6s serial %.3f s, 2 threads %.3f s, speed-up %.2fx\n", name, serial, parallel,
              serial / parallel);
}

}  // namespace

int main() {
  Measure("alu", Alu, 1500000000);
  Measure("memory", Memory, 3000000);
  return 0;
}
