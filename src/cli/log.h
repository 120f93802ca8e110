// Structured lifecycle logging for the command line: one `key=value` line per
// event on stderr. Per-request logging does not go through here.
#pragma once

#include <iostream>
#include <mutex>
#include <string_view>

namespace bookd::cli {

inline void LogLine(std::string_view level, std::string_view event, std::string_view rest = {}) {
  static std::mutex mu;
  std::lock_guard lock(mu);
  std::cerr << "level=" << level << " event=" << event;
  if (!rest.empty()) std::cerr << ' ' << rest;
  std::cerr << std::endl;
}

}  // namespace bookd::cli
