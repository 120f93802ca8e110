// `bookd serve`: wires the store, the CPU pool, the API and the HTTP server
// together and runs them until SIGTERM/SIGINT, then drains. With workers > 1
// a supervisor binds the socket and forks that many such processes
// (cluster/supervisor.h); each has all of the threads below.
//
// Threads of one process:
//  - `threads` I/O threads run the io_context: accept, parse, validate,
//    read from the store, render. They never block on disk writes or on
//    heavy computation.
//  - one store writer thread commits write commands in batches (group
//    commit) and completes each command's request after the fsync.
//  - `pool_threads` CPU pool threads compute long availability ranges and
//    searches.
#pragma once

#include <cstddef>
#include <string>

namespace bookd::cli {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  unsigned threads = 2;
  unsigned workers = 1;  // processes; 1 = no supervisor
  unsigned pool_threads = 2;
  std::size_t pool_queue_max = 256;
  int grace_s = 10;
  // Open connections from one client address; 0 = no cap (behind a proxy
  // every client has the proxy's address). Above what the black-box suite
  // opens from 127.0.0.1, far below connections_max.
  std::size_t connections_per_address = 1024;
  // Per-API-key token bucket, per process: requests per second (0 = off) and
  // burst (0 = one second's worth).
  double rate_limit_per_s = 0;
  double rate_burst = 0;
  // PEM files; both set: the listener speaks HTTPS only.
  std::string tls_cert;
  std::string tls_key;
  // PostgreSQL: read connections per process (writes use one more).
  std::size_t db_pool = 8;
};

// Returns the process exit code.
int Serve(const std::string& db_url, ServeOptions options);

// A new API key secret: 192 random bits from the OS, URL-safe.
std::string NewApiKeySecret();

}  // namespace bookd::cli
