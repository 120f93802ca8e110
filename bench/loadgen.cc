// bookd-loadgen: the project's own HTTP/1.1 load generator and end-to-end oversell check.
//
// Scenarios:
//   static   GET --path without a key; measures a plain request rate, so that nginx and bookd
//            are measured by the same client.
//   uniform  creates --resources resources with ample capacity, then books one random hour of
//            2027 on a random resource per request: little contention, mostly durable commits.
//   flash    creates a few resources with small capacity; every request books the same
//            interval on one of them, so they sell out and most answers are 409 unavailable.
// After a booking scenario every booking of the created resources is listed and checked
// (booking_check.h). Exit status: 0 clean and verified, 1 verification failed, 2 setup failed,
// 3 verified but the run was not clean (unexpected statuses or transport errors).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>

#include "api_client.h"
#include "booking_check.h"
#include "load_driver.h"

namespace bookd::bench {
namespace {

struct Options {
  std::string target = "127.0.0.1:8080";
  std::string scenario = "static";
  std::string path = "/healthz";
  std::string api_key;
  int connections = 128;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 2;
  double request_timeout_s = 10;
  int resources = 0;          // 0: the scenario's default.
  std::int64_t capacity = 0;  // 0: the scenario's default.
  std::int64_t quantity = 1;
  bool verify = true;
  std::string list_by = "resource";
  bool json = false;
  std::uint64_t seed = 0;  // 0: random.
};

constexpr int kUniformResources = 100;
constexpr std::int64_t kUniformCapacity = 1000000;
constexpr int kFlashResources = 10;
constexpr std::int64_t kFlashCapacity = 500;
constexpr std::int64_t kFlashStart_s = 1811872800;  // 2027-06-01T18:00:00Z
constexpr std::int64_t kFlashEnd_s = kFlashStart_s + 4 * 3600;

std::string JsonEscape(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out.append(escaped);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

double Ms(std::uint64_t ns) { return double(ns) / 1e6; }

void PrintTable(std::ostream& out, const Options& o, const LoadResult& r,
                const std::optional<CheckReport>& check, double verify_s) {
  const double s = r.window_s;
  char line[256];
  out << "scenario " << o.scenario << (o.scenario == "static" ? " " + o.path : "") << " -> "
      << o.target << ", " << o.connections << " connections, " << o.threads << " thread(s), "
      << o.duration_s << " s after " << o.warmup_s << " s warmup\n";
  std::snprintf(line, sizeof line, "  %-22s %12llu %12.1f /s\n", "answers",
                (unsigned long long)r.answers_in_window, r.answers_in_window / s);
  out << line;
  if (o.scenario != "static") {
    std::snprintf(line, sizeof line, "  %-22s %12llu %12.1f /s\n", "created (201)",
                  (unsigned long long)r.created_in_window, r.created_in_window / s);
    out << line;
    std::snprintf(line, sizeof line, "  %-22s %12llu %12.1f /s\n", "unavailable (409)",
                  (unsigned long long)r.refused_in_window, r.refused_in_window / s);
    out << line;
  }
  std::snprintf(line, sizeof line, "  %-22s %12llu   (whole run)\n", "other statuses",
                (unsigned long long)r.other_total);
  out << line;
  for (auto [status, n] : r.other_by_status) {
    out << "    status " << status << ": " << n << "\n";
  }
  if (!r.other_sample.empty()) out << "    first: " << r.other_sample << "\n";
  std::snprintf(line, sizeof line, "  %-22s %12llu   (whole run; %llu reconnects)\n",
                "transport errors", (unsigned long long)r.transport_errors,
                (unsigned long long)r.reconnects);
  out << line;
  if (!r.error_sample.empty()) out << "    first: " << r.error_sample << "\n";
  std::snprintf(line, sizeof line, "  %-22s p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
                "latency (ms)", Ms(r.latency.Percentile(50)), Ms(r.latency.Percentile(90)),
                Ms(r.latency.Percentile(99)), Ms(r.latency.max_ns()));
  out << line;
  if (check) {
    out << "  verification           " << (check->ok() ? "ok" : "FAILED") << ": "
        << r.created.size() << " created in the whole run, " << check->listed << " listed, missing "
        << check->missing << ", mismatched " << check->mismatched << ", oversold resources "
        << check->oversold_resources << ", flash miscounted resources "
        << check->flash_miscounted_resources << ", phantoms " << check->phantoms << ", repeats "
        << check->repeats << "; listing took " << verify_s << " s\n";
    for (const auto& message : check->messages) out << "    " << message << "\n";
  }
}

std::string JsonLine(const Options& o, const LoadResult& r, const std::optional<CheckReport>& check,
                     double verify_s) {
  const double s = r.window_s;
  std::ostringstream out;
  out.precision(6);
  out << std::fixed;
  out << "{\"scenario\":\"" << o.scenario << "\",\"target\":\"" << JsonEscape(o.target)
      << "\",\"path\":\"" << JsonEscape(o.path) << "\",\"connections\":" << o.connections
      << ",\"threads\":" << o.threads << ",\"duration_s\":" << o.duration_s
      << ",\"warmup_s\":" << o.warmup_s << ",\"answers\":" << r.answers_in_window
      << ",\"answers_per_s\":" << r.answers_in_window / s << ",\"created\":" << r.created_in_window
      << ",\"created_per_s\":" << r.created_in_window / s
      << ",\"unavailable\":" << r.refused_in_window
      << ",\"unavailable_per_s\":" << r.refused_in_window / s << ",\"other\":" << r.other_total
      << ",\"transport_errors\":" << r.transport_errors
      << ",\"p50_ms\":" << Ms(r.latency.Percentile(50))
      << ",\"p90_ms\":" << Ms(r.latency.Percentile(90))
      << ",\"p99_ms\":" << Ms(r.latency.Percentile(99)) << ",\"max_ms\":" << Ms(r.latency.max_ns())
      << ",\"created_whole_run\":" << r.created.size()
      << ",\"verified\":" << (check ? (check->ok() ? "true" : "false") : "null")
      << ",\"verify_s\":" << verify_s
      << ",\"clean\":" << (r.other_total == 0 && r.transport_errors == 0 ? "true" : "false")
      << ",\"other_sample\":\"" << JsonEscape(r.other_sample) << "\"}";
  return out.str();
}

bool SplitTarget(const std::string& target, std::string* host, std::uint16_t* port) {
  const auto colon = target.rfind(':');
  if (colon == std::string::npos) return false;
  *host = target.substr(0, colon);
  const int value = std::atoi(target.c_str() + colon + 1);
  if (value <= 0 || value > 65535) return false;
  *port = static_cast<std::uint16_t>(value);
  return true;
}

std::optional<CheckReport> Verify(ApiClient& client, const Workload& workload, const LoadResult& r,
                                  std::int64_t capacity, bool list_all) {
  CheckInput input;
  input.same_interval_per_resource = workload.kind() == Workload::Kind::kFlash;
  input.flash_quantity = workload.quantity();
  input.unanswered_requests = r.transport_errors > 0;
  input.created = r.created;
  for (std::size_t i = 0; i < workload.resource_ids().size(); ++i) {
    const std::string& id = workload.resource_ids()[i];
    input.resources.push_back({id, capacity, r.refused_by_resource[i]});
    input.listed_by_resource[id];
  }

  std::string error;
  if (list_all) {
    // One pass over every booking, kept when an item names one of this run's resources.
    auto listed = client.ListBookings("", &error);
    if (!listed) {
      std::cerr << "loadgen: verification could not list bookings: " << error << "\n";
      return std::nullopt;
    }
    for (ListedBooking& booking : *listed) {
      for (const BookingItem& item : booking.items) {
        auto it = input.listed_by_resource.find(item.resource_id);
        if (it != input.listed_by_resource.end()) {
          it->second.push_back(booking);
          break;
        }
      }
    }
    return CheckBookings(input);
  }

  for (const std::string& id : workload.resource_ids()) {
    auto listed = client.ListBookings(id, &error);
    if (!listed) {
      std::cerr << "loadgen: verification could not list bookings: " << error << "\n";
      return std::nullopt;
    }
    input.listed_by_resource[id] = std::move(*listed);
  }
  return CheckBookings(input);
}

int Main(int argc, char** argv) {
  Options o;
  CLI::App app{"bookd load generator: closed-loop HTTP/1.1 load and booking verification"};
  app.add_option("--target", o.target, "HOST:PORT of the server (an IP address)");
  app.add_option("--scenario", o.scenario, "static, uniform or flash")
      ->check(CLI::IsMember({"static", "uniform", "flash"}));
  app.add_option("--path", o.path, "path for the static scenario");
  app.add_option("--key", o.api_key, "admin API key (uniform, flash)");
  app.add_option("--connections", o.connections)->check(CLI::Range(1, 10000));
  app.add_option("--threads", o.threads)->check(CLI::Range(1, 2));
  app.add_option("--duration", o.duration_s, "measured seconds")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--warmup", o.warmup_s, "seconds before measuring")->check(CLI::Range(0.0, 600.0));
  app.add_option("--timeout", o.request_timeout_s, "seconds before a request is cut off")
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--resources", o.resources, "resources to create (uniform 100, flash 10)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--capacity", o.capacity, "capacity of each (uniform 1000000, flash 500)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}));
  app.add_option("--quantity", o.quantity, "units per booking")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}));
  app.add_flag("!--no-verify", o.verify, "skip listing and checking the bookings");
  app.add_option("--list-by", o.list_by,
                 "verification lists GET /v1/bookings?resource_id= per resource, or all bookings")
      ->check(CLI::IsMember({"resource", "all"}));
  app.add_flag("--json", o.json, "print one JSON line on stdout (the table goes to stderr)");
  app.add_option("--seed", o.seed, "random seed (0: random)");
  CLI11_PARSE(app, argc, argv);

  DriverConfig config;
  if (!SplitTarget(o.target, &config.host, &config.port)) {
    std::cerr << "loadgen: --target must be HOST:PORT\n";
    return 2;
  }
  if (o.seed == 0) o.seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  config.connections = o.connections;
  config.threads = o.threads;
  config.duration_s = o.duration_s;
  config.warmup_s = o.warmup_s;
  config.request_timeout_s = o.request_timeout_s;
  config.seed = o.seed;

  const bool booking = o.scenario != "static";
  const bool flash = o.scenario == "flash";
  if (o.resources == 0) o.resources = flash ? kFlashResources : kUniformResources;
  if (o.capacity == 0) o.capacity = flash ? kFlashCapacity : kUniformCapacity;
  if (booking && o.api_key.empty()) {
    std::cerr << "loadgen: --key (an admin API key) is needed for " << o.scenario << "\n";
    return 2;
  }

  ApiClient client(config.host, config.port, o.api_key);
  std::vector<std::string> ids;
  if (booking) {
    // A fresh tag per run keeps resource ids unique across runs on the same database.
    char tag[32];
    std::snprintf(tag, sizeof tag, "%08llx", (unsigned long long)(o.seed & 0xffffffffull));
    for (int i = 0; i < o.resources; ++i) {
      ids.push_back("lg-" + o.scenario + "-" + tag + "-" + std::to_string(i));
      std::string error;
      if (!client.CreateResource(ids.back(), o.capacity, &error)) {
        std::cerr << "loadgen: setup failed: " << error << "\n";
        return 2;
      }
    }
  }

  const std::string host_header = o.target;
  const Workload workload =
      !booking ? Workload::Static(host_header, o.path)
      : flash ? Workload::Flash(host_header, o.api_key, ids, o.quantity, kFlashStart_s, kFlashEnd_s)
              : Workload::Uniform(host_header, o.api_key, ids, o.quantity);
  const LoadResult result = RunLoad(config, workload);

  std::optional<CheckReport> check;
  bool verification_failed = false;
  double verify_s = 0;
  if (booking && o.verify) {
    const auto verify_start = std::chrono::steady_clock::now();
    check = Verify(client, workload, result, o.capacity, o.list_by == "all");
    verify_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - verify_start).count();
    verification_failed = !check || !check->ok();
  }

  PrintTable(o.json ? std::cerr : std::cout, o, result, check, verify_s);
  if (o.json) std::cout << JsonLine(o, result, check, verify_s) << std::endl;
  if (verification_failed) return 1;
  if (result.other_total != 0 || result.transport_errors != 0) return 3;
  return 0;
}

}  // namespace
}  // namespace bookd::bench

int main(int argc, char** argv) { return bookd::bench::Main(argc, argv); }
