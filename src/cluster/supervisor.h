// The process cluster: one supervisor binds the listening socket and forks N
// worker processes that all accept on it (the kernel spreads connections).
//
// Lifecycle, per worker slot:
//
//   (none) --Spawn--> starting --ready byte on pipe--> running
//   running --exit/crash--> (none) --backoff--> Spawn again     [counted in restarts]
//   running --SIGHUP rollover--> old gets SIGTERM once its replacement is running
//   replacement starting longer than ready_timeout --> SIGKILL, another replacement
//   fork failed --> the slot (or the rollover) tries again after backoff_max
//   any --SIGTERM/SIGINT to supervisor--> SIGTERM to all, wait, exit 0
//
// Invariants:
//  1. The listening socket stays open in the supervisor for its whole life, so
//     a connection is never refused while any worker, old or new, can accept.
//  2. During a SIGHUP rollover a worker is stopped only after its replacement
//     has reported that it is accepting.
//  3. A crashing worker is restarted with exponential backoff (bounded), so a
//     worker that cannot start does not spin the machine; no failure to start
//     (a crash, a hang, a failed fork) leaves a slot or a rollover stuck.
//  4. The supervisor never touches the database: it forks before any store is
//     opened, so no SQLite handle crosses a fork.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

namespace bookd::cluster {

struct SupervisorOptions {
  unsigned workers = 2;
  int listen_fd = -1;              // bound and listening
  std::chrono::seconds grace{10};  // SIGTERM to SIGKILL, per worker
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{10000};
  // A rollover's replacement that is not accepting by then is killed and
  // started again, so that one stuck start cannot stall the rollover.
  std::chrono::milliseconds ready_timeout{30000};
};

// Runs in the child. `ready_fd` must get one byte written (see NotifyReady)
// once the worker accepts connections; the worker's return value is its exit
// code.
using WorkerMain = std::function<int(int listen_fd, int ready_fd)>;

// Blocks until SIGTERM/SIGINT, then drains the workers; returns the exit code.
int RunSupervisor(const SupervisorOptions& options, const WorkerMain& worker_main);

// For WorkerMain: tells the supervisor this worker is serving. No-op for -1.
void NotifyReady(int ready_fd);

// Restarts of crashed workers so far, readable from every worker (a counter
// in memory shared across fork). Zero outside cluster mode.
std::uint64_t WorkerRestarts();

// Binds and listens on host:port (SO_REUSEADDR), returning the fd or -1 with
// errno set; `bound_port` receives the port (useful with port 0).
int BindListener(const char* host, std::uint16_t port, std::uint16_t* bound_port);

}  // namespace bookd::cluster
