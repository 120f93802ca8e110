// Structured lifecycle logging for the command line: one `key=value` line per
// event on stderr. Per-request logging does not go through here.
#pragma once

#include <unistd.h>

#include <string>
#include <string_view>

namespace bookd::cli {

// The line is written with one write(2) so that the lines of several worker
// processes sharing stderr never interleave.
inline void LogLine(std::string_view level, std::string_view event, std::string_view rest = {}) {
  std::string line;
  line.reserve(32 + event.size() + rest.size());
  line.append("level=").append(level).append(" event=").append(event);
  if (!rest.empty()) line.append(" ").append(rest);
  line.push_back('\n');
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace bookd::cli
