// The HTTP API of ../shared/api.md: routing, authentication, JSON in and out,
// conditional requests and idempotency. Handlers parse and validate, call the
// store (writes as commands, reads directly) or the CPU pool, and render.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "domain/time.h"
#include "http/handler.h"
#include "pool/cpu_pool.h"
#include "storage/store.h"

namespace bookd::api {

struct ApiOptions {
  // Availability and slot requests whose range is longer than this go to the
  // CPU pool instead of being computed on the connection's thread.
  std::int64_t inline_range_s_max = 7 * 86400;
  // Per-key token bucket for /v1 routes, in this process (api/rate_limiter.h):
  // requests per second (0 = no limit) and how many may come at once.
  double rate_limit_per_s = 0;
  double rate_burst = 0;
  // Where the answer to a write is rendered and sent once its transaction
  // committed. The store calls back on its writer thread, whose time bounds
  // the booking rate, so the server hands that work to its I/O threads;
  // empty: on the writer thread itself.
  std::function<void(std::function<void()>)> complete_writes;
};

class Api final : public http::Handler {
 public:
  Api(storage::Store& store, pool::CpuPool& pool, const domain::Clock& clock, ApiOptions options);
  ~Api() override;

  void Handle(http::Request&& req, const std::string& request_id, http::Respond respond) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bookd::api
