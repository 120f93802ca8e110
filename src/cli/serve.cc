#include "cli/serve.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <csignal>
#include <functional>
#include <iostream>
#include <thread>
#include <vector>

#include "api/api.h"
#include "cli/db_url.h"
#include "cli/log.h"
#include "cluster/supervisor.h"
#include "common/crypto.h"
#include "common/metrics.h"
#include "common/thread_name.h"
#include "http/server.h"
#include "pool/cpu_pool.h"

namespace bookd::cli {
namespace {

template <class T>
T Clamp(const char* name, T value, T lo, T hi) {
  T clamped = std::clamp(value, lo, hi);
  if (clamped != value) {
    LogLine("warn", "option_clamped",
            std::string("option=") + name + " given=" + std::to_string(value) +
                " used=" + std::to_string(clamped));
  }
  return clamped;
}

bool SplitHostPort(const std::string& listen, std::string* host, std::uint16_t* port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *host = listen.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  try {
    std::size_t used = 0;
    int p = std::stoi(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || p < 0 || p > 65535) return false;
    *port = static_cast<std::uint16_t>(p);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

// Every connection costs a descriptor, and a default soft limit of 1024 would
// cap the server far below http::Limits::connections_max: raise the soft
// limit to the hard one (the most an unprivileged process may) and say so.
void RaiseDescriptorLimit() {
  constexpr rlim_t kDescriptorsMax = 1 << 20;  // the kernel's usual nr_open
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  const rlim_t wanted = std::min(limit.rlim_max, kDescriptorsMax);
  if (before < wanted) {
    limit.rlim_cur = wanted;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = before;
  }
  const bool low = limit.rlim_cur < http::Limits{}.connections_max;
  LogLine(low ? "warn" : "info", "descriptor_limit",
          "soft_before=" + std::to_string(before) + " soft=" + std::to_string(limit.rlim_cur) +
              " hard=" + std::to_string(limit.rlim_max) +
              " connections_max=" + std::to_string(http::Limits{}.connections_max));
}

// A database without any key would be unusable: create an admin key and show
// it once, so that a first `bookd serve` is all a new user needs.
Status EnsureBootstrapKey(storage::Store& store) {
  auto keys = store.ListKeys();
  if (!keys) return keys.error();
  if (!keys->empty()) return Ok{};
  std::string secret = NewApiKeySecret();
  auto key = store.CreateKey("default", storage::Role::kAdmin, Sha256Hex(secret));
  if (!key) return key.error();
  std::cout << "bootstrap admin key: " << secret << std::endl;
  return Ok{};
}

// One serving process: store, pool, API and HTTP server on `listen_fd` (or on
// a socket of its own when listen_fd is -1), until SIGTERM/SIGINT.
int RunWorker(const std::string& db_url, const ServeOptions& o, const std::string& host,
              std::uint16_t port, int listen_fd, int ready_fd) {
  domain::SystemClock clock;
  auto store = OpenStore(db_url, clock, DbOptions{o.db_pool});
  if (!store) {
    LogLine("error", "store_open_failed",
            "db=" + RedactedDbUrl(db_url) + " detail=\"" + store.error().detail + "\"");
    return 1;
  }
  if (ready_fd < 0) {  // single process; in a cluster the supervisor did this once
    if (auto st = EnsureBootstrapKey(**store); !st) {
      LogLine("error", "bootstrap_key_failed", "detail=\"" + st.error().detail + "\"");
      return 1;
    }
  }
  metrics::AddCollector([](std::string& out) {
    out += "# HELP bookd_worker_restarts_total Worker processes restarted after dying.\n";
    out += "# TYPE bookd_worker_restarts_total counter\n";
    out += "bookd_worker_restarts_total " + std::to_string(cluster::WorkerRestarts()) + "\n";
  });

  pool::CpuPool pool(o.pool_threads, o.pool_queue_max);
  api::ApiOptions api_options;
  api_options.rate_limit_per_s = o.rate_limit_per_s;
  api_options.rate_burst = o.rate_burst;
  boost::asio::io_context ioc(static_cast<int>(o.threads));
  api_options.complete_writes = [&ioc](std::function<void()> answer) {
    boost::asio::post(ioc, std::move(answer));
  };
  api::Api api(**store, pool, clock, api_options);
  http::Limits limits;
  limits.connections_per_address_max = o.connections_per_address;
  http::Server server(ioc, api, limits);
  if (listen_fd >= 0) {
    if (auto st = server.Adopt(listen_fd); !st) {
      LogLine("error", "adopt_failed", "detail=\"" + st.error().detail + "\"");
      return 1;
    }
  } else {
    auto bound = server.Listen(host, port);
    if (!bound) {
      LogLine("error", "listen_failed",
              "address=" + o.listen + " detail=\"" + bound.error().detail + "\"");
      return 1;
    }
    port = *bound;
  }
  if (!o.tls_cert.empty()) {
    if (auto st = server.UseTls(o.tls_cert, o.tls_key); !st) {
      LogLine("error", "tls_failed", "detail=\"" + st.error().detail + "\"");
      return 1;
    }
  }
  server.Start();
  LogLine("info", "listening",
          "address=" + host + ":" + std::to_string(port) + " pid=" + std::to_string(getpid()) +
              " threads=" + std::to_string(o.threads) +
              " pool_threads=" + std::to_string(o.pool_threads) +
              " connections_per_address=" + std::to_string(o.connections_per_address) +
              " rate_limit=" + std::to_string(o.rate_limit_per_s) +
              " rate_burst=" + std::to_string(o.rate_burst) +
              " tls=" + (o.tls_cert.empty() ? "off" : "on") + " db=" + RedactedDbUrl(db_url));
  cluster::NotifyReady(ready_fd);

  // SIGHUP means "roll the workers over", which only the supervisor can do;
  // a lone process must not die of it (the default action), so it logs it.
  boost::asio::signal_set hangups(ioc, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_hangup =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        LogLine("warn", "sighup_ignored", "why=\"rollover needs --workers 2 or more\"");
        hangups.async_wait(on_hangup);
      };
  if (ready_fd < 0) hangups.async_wait(on_hangup);

  // SIGTERM/SIGINT: stop accepting, let in-flight requests finish within the
  // grace period, then stop the I/O threads.
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    LogLine("info", "draining",
            "signal=" + std::to_string(signo) + " grace_s=" + std::to_string(o.grace_s));
    hangups.cancel();
    server.Drain(std::chrono::seconds(o.grace_s), [&ioc] { ioc.stop(); });
  });

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < o.threads; ++i) {
    threads.emplace_back([&ioc] {
      NameThisThread("bookd-io");
      ioc.run();
    });
  }
  ioc.run();
  for (auto& t : threads) t.join();

  pool.Join();
  (*store)->Close();
  LogLine("info", "stopped", "pid=" + std::to_string(getpid()));
  return 0;
}

}  // namespace

std::string NewApiKeySecret() { return "bk_" + RandomToken(24); }

int Serve(const std::string& db_url, ServeOptions o) {
  o.threads = Clamp("threads", o.threads, 1u, 256u);
  o.workers = Clamp("workers", o.workers, 1u, 64u);
  o.pool_threads = Clamp("pool_threads", o.pool_threads, 1u, 256u);
  o.pool_queue_max = Clamp<std::size_t>("pool_queue", o.pool_queue_max, 1, 100000);
  o.grace_s = Clamp("grace", o.grace_s, 0, 3600);
  o.rate_limit_per_s = Clamp("rate_limit", o.rate_limit_per_s, 0.0, 1e6);
  o.rate_burst = Clamp("rate_burst", o.rate_burst, 0.0, 1e6);

  RaiseDescriptorLimit();  // before any fork, so that every worker inherits it

  std::string host;
  std::uint16_t port = 0;
  if (!SplitHostPort(o.listen, &host, &port)) {
    LogLine("error", "bad_option", "option=listen value=\"" + o.listen + "\" want=HOST:PORT");
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    LogLine("error", "bad_option", "option=tls want=\"both --tls-cert and --tls-key\"");
    return 2;
  }
  if (!o.tls_cert.empty()) {  // checked once here, so that no worker dies over it in a loop
    if (auto context = http::MakeTlsContext(o.tls_cert, o.tls_key); !context) {
      LogLine("error", "tls_failed", "detail=\"" + context.error().detail + "\"");
      return 2;
    }
  }
  if (o.workers == 1) return RunWorker(db_url, o, host, port, -1, -1);

  // Cluster: create the bootstrap key once, in a short-lived child so that
  // the supervisor itself never holds a database handle; bind once; fork.
  if (pid_t pid = fork(); pid == 0) {
    domain::SystemClock clock;
    auto store = OpenStore(db_url, clock);
    if (!store) _exit(1);
    Status st = EnsureBootstrapKey(**store);
    (*store)->Close();
    std::cout.flush();
    _exit(st.ok() ? 0 : 1);
  } else if (int status = 0; pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
    LogLine("error", "bootstrap_failed", "db=" + RedactedDbUrl(db_url));
    return 1;
  }
  std::uint16_t bound = 0;
  int fd = cluster::BindListener(host.c_str(), port, &bound);
  if (fd < 0) {
    LogLine("error", "listen_failed", "address=" + o.listen + " errno=" + std::to_string(errno));
    return 1;
  }
  cluster::SupervisorOptions so;
  so.workers = o.workers;
  so.listen_fd = fd;
  so.grace = std::chrono::seconds(o.grace_s);
  return cluster::RunSupervisor(so, [&](int listen_fd, int ready_fd) {
    return RunWorker(db_url, o, host, bound, listen_fd, ready_fd);
  });
}

}  // namespace bookd::cli
