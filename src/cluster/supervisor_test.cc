// Goal: no failure to start leaves the cluster short of a worker. A rollover
// (SIGHUP) gets past a replacement worker that never says it is ready: the
// supervisor kills it after ready_timeout, starts another, and only then
// retires the old worker, which served throughout. A slot whose fork failed
// is filled once fork works again. Method: a real supervisor in a child
// process, with workers that log their start and their SIGTERM to a file (the
// second worker ever started hangs instead of getting ready); for the failed
// fork, a supervisor running as a user of its own at its process limit, until
// the test ends the other process of that user.
#include "cluster/supervisor.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

// A loopback socket, bound to any free port and listening.
int Listener() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 16) != 0) {
    return -1;
  }
  return fd;
}

// A counter of worker starts that every process forked from here shares.
std::atomic<int>* SharedCounter() {
  void* shared = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return shared == MAP_FAILED ? nullptr : new (shared) std::atomic<int>(0);
}

// SIGTERM, then SIGKILL if it has not exited within 5 s; its wait status.
int Stop(pid_t pid) {
  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return status;
}

TEST(Supervisor, RolloverReplacesAReplacementThatNeverGetsReady) {
  char dir[] = "/tmp/bookd-supervisor-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string log = std::string(dir) + "/workers.log";
  const int listen_fd = Listener();
  ASSERT_GE(listen_fd, 0);
  std::atomic<int>* starts = SharedCounter();
  ASSERT_NE(starts, nullptr);

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

  Stop(supervisor);
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

// Threads (tasks) whose real user is `user`, all processes together: what
// RLIMIT_NPROC counts.
int TasksOf(uid_t user) {
  namespace fs = std::filesystem;
  int n = 0;
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string name = proc.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;  // "self", ...
    std::error_code task_ec;
    for (const auto& task : fs::directory_iterator(proc.path() / "task", task_ec)) {
      std::ifstream status(task.path() / "status");
      for (std::string line; std::getline(status, line);) {
        if (line.rfind("Uid:", 0) == 0) {
          n += std::stoul(line.substr(4)) == user;
          break;
        }
      }
    }
  }
  return n;
}

TEST(Supervisor, ASlotWhoseForkFailedIsFilledOnceForkWorksAgain) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run processes as another user";
  const int listen_fd = Listener();
  ASSERT_GE(listen_fd, 0);
  std::atomic<int>* starts = SharedCounter();
  ASSERT_NE(starts, nullptr);

  // A user of this run's own, limited to the tasks it has once a blocker and
  // the supervisor run as it (a sanitizer's runtime may add a thread to
  // each). Every fork of the supervisor fails with EAGAIN until the blocker
  // is gone.
  const uid_t user = 3000000 + static_cast<uid_t>(getpid());
  const pid_t blocker = fork();
  ASSERT_GE(blocker, 0);
  if (blocker == 0) {
    if (setgid(user) != 0 || setuid(user) != 0) _exit(90);
    for (;;) pause();
  }
  std::this_thread::sleep_for(100ms);  // the blocker runs as `user`
  const pid_t supervisor = fork();
  ASSERT_GE(supervisor, 0);
  if (supervisor == 0) {
    if (setgid(user) != 0 || setuid(user) != 0) _exit(91);
    const rlim_t now = static_cast<rlim_t>(TasksOf(user));
    const rlimit full{now, now};
    if (setrlimit(RLIMIT_NPROC, &full) != 0) _exit(92);
    SupervisorOptions o;
    o.workers = 1;
    o.listen_fd = listen_fd;
    o.grace = 1s;
    o.backoff_max = 200ms;  // the retry interval of a failed fork
    const WorkerMain worker = [&](int, int ready_fd) {
      starts->fetch_add(1);
      NotifyReady(ready_fd);
      pause();  // until the supervisor's SIGTERM ends it
      return 0;
    };
    _exit(RunSupervisor(o, worker));
  }

  // Several retry intervals with fork failing: no worker can have started.
  std::this_thread::sleep_for(700ms);
  const int before = starts->load();
  int early_status = 0;
  const bool exited_early = waitpid(supervisor, &early_status, WNOHANG) == supervisor;
  kill(blocker, SIGKILL);
  waitpid(blocker, nullptr, 0);  // reaped: it no longer counts against the limit
  bool filled = false;
  for (int i = 0; i < 500 && !filled; ++i) {
    filled = starts->load() > 0;
    if (!filled) std::this_thread::sleep_for(10ms);
  }
  const int status = exited_early ? early_status : Stop(supervisor);
  close(listen_fd);

  ASSERT_FALSE(exited_early) << "the supervisor gave up: wait status " << early_status;
  EXPECT_EQ(before, 0) << "a worker started while fork could not have worked";
  EXPECT_TRUE(filled) << "the slot stayed empty after fork worked again";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
}

}  // namespace
}  // namespace bookd::cluster
