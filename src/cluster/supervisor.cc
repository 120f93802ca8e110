#include "cluster/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace bookd::cluster {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<std::uint64_t>* g_restarts = nullptr;  // MAP_SHARED, inherited by workers

void Log(const char* event, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void Log(const char* event, const char* fmt, ...) {
  char rest[256];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(rest, sizeof rest, fmt, args);
  va_end(args);
  std::fprintf(stderr, "level=info event=%s component=supervisor%s%s\n", event, rest[0] ? " " : "",
               rest);
}
void Log(const char* event) { Log(event, "%s", ""); }

struct Worker {
  pid_t pid = -1;
  int ready_fd = -1;  // read end; closed once the byte arrived
  bool ready = false;
  bool retiring = false;  // sent SIGTERM as part of a rollover or shutdown
  Clock::time_point started;
};

class Supervisor {
 public:
  Supervisor(const SupervisorOptions& o, const WorkerMain& main) : o_(o), main_(main) {}

  int Run() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, &old_mask_);
    sfd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    slots_.resize(o_.workers);
    for (unsigned i = 0; i < o_.workers; ++i) FillSlot(i);
    Log("cluster_started", "workers=%u", o_.workers);

    while (!stopping_ || Alive() > 0) {
      Poll();
      if (stopping_ && Clock::now() > kill_at_) KillAll(SIGKILL);
    }
    Log("cluster_stopped");
    return 0;
  }

 private:
  Worker Spawn() {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {};
    pid_t pid = fork();
    if (pid == 0) {
      // Child: default signal handling, the ready pipe's write end only.
      sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
      close(pipe_fds[0]);
      close(sfd_);
      _exit(main_(o_.listen_fd, pipe_fds[1]));
    }
    close(pipe_fds[1]);
    if (pid < 0) {
      close(pipe_fds[0]);
      return {};
    }
    Log("worker_started", "pid=%d", pid);
    return Worker{pid, pipe_fds[0], false, false, Clock::now()};
  }

  // A slot whose fork failed (no memory, too many processes) is tried again
  // later instead of staying empty for good.
  void FillSlot(std::size_t i) {
    slots_[i] = Spawn();
    if (slots_[i].pid > 0) return;
    Log("worker_spawn_failed", "slot=%zu errno=%d retry_in_ms=%lld", i, errno,
        static_cast<long long>(o_.backoff_max.count()));
    respawn_at_.push_back({i, Clock::now() + o_.backoff_max});
  }

  int Alive() const {
    int n = static_cast<int>(retiring_.size());
    for (const auto& w : slots_) n += w.pid > 0;
    return n;
  }

  void Poll() {
    std::vector<pollfd> fds{{sfd_, POLLIN, 0}};
    for (const auto& w : slots_) {
      if (w.pid > 0 && !w.ready && w.ready_fd >= 0) fds.push_back({w.ready_fd, POLLIN, 0});
    }
    int timeout_ms = 100;
    poll(fds.data(), fds.size(), timeout_ms);

    if (fds[0].revents & POLLIN) {
      signalfd_siginfo info;
      while (read(sfd_, &info, sizeof info) == sizeof info)
        OnSignal(static_cast<int>(info.ssi_signo));
    }
    for (auto& w : slots_) {
      if (w.pid <= 0 || w.ready || w.ready_fd < 0) continue;
      pollfd p{w.ready_fd, POLLIN, 0};
      if (poll(&p, 1, 0) == 1) {
        char byte;
        if (read(w.ready_fd, &byte, 1) == 1) w.ready = true;
        close(w.ready_fd);
        w.ready_fd = -1;
      }
    }
    Reap();
    RespawnDue();
    ContinueRollover();
  }

  void OnSignal(int signo) {
    if (signo == SIGTERM || signo == SIGINT) {
      if (stopping_) return;
      stopping_ = true;
      kill_at_ = Clock::now() + o_.grace + std::chrono::seconds(1);
      Log("cluster_draining", "signal=%d", signo);
      // A replacement still starting belongs to no slot: retire it with the
      // others, or it would outlive the supervisor and keep serving the port.
      if (rollover_new_) {
        if (rollover_new_->pid > 0) retiring_.push_back(rollover_new_->pid);
        if (rollover_new_->ready_fd >= 0) close(rollover_new_->ready_fd);
        rollover_new_.reset();
      }
      KillAll(SIGTERM);
    } else if (signo == SIGHUP && !stopping_) {
      // A rollover in progress starts over from the first slot; a replacement
      // already starting is kept and takes that slot, so none runs untracked.
      Log("rollover_started");
      rollover_next_ = 0;
    }
  }

  void KillAll(int signo) {
    for (auto& w : slots_) {
      if (w.pid > 0) kill(w.pid, signo);
    }
    for (pid_t pid : retiring_) kill(pid, signo);
  }

  void Reap() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto r = std::find(retiring_.begin(), retiring_.end(), pid);
      if (r != retiring_.end()) {
        retiring_.erase(r);
        continue;
      }
      if (rollover_new_ && rollover_new_->pid == pid) {  // the replacement died while starting
        rollover_new_.reset();
        CountRestart(pid, status);
        continue;
      }
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].pid != pid) continue;
        if (slots_[i].ready_fd >= 0) close(slots_[i].ready_fd);
        bool quick = Clock::now() - slots_[i].started < std::chrono::seconds(1);
        slots_[i] = Worker{};
        if (stopping_) break;
        backoff_ = quick ? std::min(std::max(backoff_ * 2, o_.backoff_min), o_.backoff_max)
                         : o_.backoff_min;
        CountRestart(pid, status);
        respawn_at_.push_back({i, Clock::now() + backoff_});
      }
    }
  }

  void CountRestart(pid_t pid, int status) {
    g_restarts->fetch_add(1, std::memory_order_relaxed);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    std::fprintf(stderr,
                 "level=warn event=worker_died component=supervisor pid=%d exit=%d signal=%d "
                 "restart_in_ms=%lld\n",
                 pid, code, sig, static_cast<long long>(backoff_.count()));
  }

  void RespawnDue() {
    auto now = Clock::now();
    std::vector<std::size_t> due;
    for (auto it = respawn_at_.begin(); it != respawn_at_.end();) {
      if (stopping_) {
        it = respawn_at_.erase(it);
      } else if (now >= it->second) {
        due.push_back(it->first);
        it = respawn_at_.erase(it);
      } else {
        ++it;
      }
    }
    // A rollover may have filled the slot meanwhile; spawning over it would
    // lose track of that worker.
    for (std::size_t i : due) {
      if (slots_[i].pid <= 0) FillSlot(i);
    }
  }

  // SIGHUP: for each slot in turn, start a replacement, wait until it is
  // accepting, then retire the old worker (SIGTERM: it drains and exits).
  void ContinueRollover() {
    if (stopping_ || rollover_next_ >= slots_.size()) return;
    if (!rollover_new_) {
      if (Clock::now() < rollover_retry_at_) return;
      Worker w = Spawn();
      if (w.pid <= 0) {
        Log("rollover_spawn_failed", "errno=%d retry_in_ms=%lld", errno,
            static_cast<long long>(o_.backoff_max.count()));
        rollover_retry_at_ = Clock::now() + o_.backoff_max;
        return;
      }
      rollover_new_ = w;
      return;
    }
    pollfd p{rollover_new_->ready_fd, POLLIN, 0};
    if (rollover_new_->ready_fd < 0 || poll(&p, 1, 0) != 1) {
      if (Clock::now() - rollover_new_->started < o_.ready_timeout) return;
      // Stuck while starting: kill it (it serves nothing yet) and start
      // another; the old worker of the slot keeps serving meanwhile.
      Log("rollover_replacement_not_ready", "pid=%d", rollover_new_->pid);
      kill(rollover_new_->pid, SIGKILL);
      retiring_.push_back(rollover_new_->pid);
      if (rollover_new_->ready_fd >= 0) close(rollover_new_->ready_fd);
      rollover_new_.reset();
      rollover_retry_at_ = Clock::now() + o_.backoff_min;
      return;
    }
    char byte;
    if (read(rollover_new_->ready_fd, &byte, 1) != 1) return;
    close(rollover_new_->ready_fd);
    rollover_new_->ready_fd = -1;
    rollover_new_->ready = true;

    Worker& old = slots_[rollover_next_];
    if (old.pid > 0) {
      kill(old.pid, SIGTERM);
      retiring_.push_back(old.pid);
      if (old.ready_fd >= 0) close(old.ready_fd);
    }
    old = *rollover_new_;
    rollover_new_.reset();
    if (++rollover_next_ == slots_.size()) Log("rollover_finished");
  }

  const SupervisorOptions& o_;
  const WorkerMain& main_;
  sigset_t old_mask_{};
  int sfd_ = -1;
  std::vector<Worker> slots_;
  std::vector<pid_t> retiring_;
  std::vector<std::pair<std::size_t, Clock::time_point>> respawn_at_;
  std::chrono::milliseconds backoff_{0};
  bool stopping_ = false;
  Clock::time_point kill_at_{};
  std::size_t rollover_next_ = SIZE_MAX;
  std::optional<Worker> rollover_new_;
  Clock::time_point rollover_retry_at_{};  // no replacement is started before
};

}  // namespace

int RunSupervisor(const SupervisorOptions& options, const WorkerMain& worker_main) {
  void* shared = mmap(nullptr, sizeof(std::atomic<std::uint64_t>), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) return 1;
  g_restarts = new (shared) std::atomic<std::uint64_t>(0);
  return Supervisor(options, worker_main).Run();
}

void NotifyReady(int ready_fd) {
  if (ready_fd < 0) return;
  char byte = 'r';
  (void)!write(ready_fd, &byte, 1);
  close(ready_fd);
}

std::uint64_t WorkerRestarts() {
  return g_restarts ? g_restarts->load(std::memory_order_relaxed) : 0;
}

int BindListener(const char* host, std::uint16_t port, std::uint16_t* bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(host, service.c_str(), &hints, &res) != 0 || res == nullptr) {
    errno = EINVAL;
    return -1;
  }
  int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
    int saved = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    errno = saved;
    return -1;
  }
  freeaddrinfo(res);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = addr.ss_family == AF_INET6
                    ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                    : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

}  // namespace bookd::cluster
