// Goal: a rollover (SIGHUP) gets past a replacement worker that never says it
// is ready: the supervisor kills it after ready_timeout, starts another, and
// only then retires the old worker, which served throughout. Method: a real
// supervisor in a child process, with workers that log their start and their
// SIGTERM to a file; the second worker ever started hangs instead of getting
// ready.
#include "cluster/supervisor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace bookd::cluster {
namespace {

using namespace std::chrono_literals;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Polls `path` until it holds `line` or `timeout` has passed.
bool WaitForLine(const std::string& path, const std::string& line, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ReadAll(path).find(line + "\n") != std::string::npos) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void AppendLine(const std::string& path, const std::string& line) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return;
  std::fprintf(f, "%s\n", line.c_str());
  std::fclose(f);
}

TEST(Supervisor, RolloverReplacesAReplacementThatNeverGetsReady) {
  char dir[] = "/tmp/bookd-supervisor-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/workers.log";

  const int listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listen_fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listen_fd, 16), 0);

  // Counts worker starts across the supervisor's forks.
  void* shared = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* starts = new (shared) std::atomic<int>(0);

  const pid_t supervisor = fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    SupervisorOptions o;
    o.workers = 1;
    o.listen_fd = listen_fd;
    o.grace = 1s;
    o.backoff_min = 10ms;
    o.ready_timeout = 500ms;
    const WorkerMain worker = [&](int, int ready_fd) {
      sigset_t term;
      sigemptyset(&term);
      sigaddset(&term, SIGTERM);
      sigprocmask(SIG_BLOCK, &term, nullptr);
      const int n = starts->fetch_add(1);
      AppendLine(log, "start " + std::to_string(n));
      if (n != 1) NotifyReady(ready_fd);  // worker 1 hangs while starting
      int signo = 0;
      sigwait(&term, &signo);
      AppendLine(log, "term " + std::to_string(n));
      return 0;
    };
    _exit(RunSupervisor(o, worker));
  }

  ASSERT_TRUE(WaitForLine(log, "start 0", 10s)) << ReadAll(log);
  std::this_thread::sleep_for(200ms);  // worker 0 is ready and the supervisor polls again
  ASSERT_EQ(kill(supervisor, SIGHUP), 0);
  const bool replaced = WaitForLine(log, "start 2", 10s) && WaitForLine(log, "term 0", 10s);

  kill(supervisor, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500 && waitpid(supervisor, &status, WNOHANG) == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  if (waitpid(supervisor, &status, WNOHANG) == 0) kill(supervisor, SIGKILL);
  const std::string lines = ReadAll(log);
  std::filesystem::remove_all(dir);
  close(listen_fd);

  ASSERT_TRUE(replaced) << "the rollover stalled on a replacement that never got ready:\n" << lines;
  // Worker 1 was killed outright: it never got to log a SIGTERM.
  EXPECT_EQ(lines.find("term 1\n"), std::string::npos) << lines;
  // Worker 0 was retired only after worker 2 was ready, and worker 2 served to the end.
  EXPECT_LT(lines.find("start 2\n"), lines.find("term 0\n")) << lines;
  EXPECT_NE(lines.find("term 2\n"), std::string::npos) << lines;
}

}  // namespace
}  // namespace bookd::cluster
