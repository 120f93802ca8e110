#include "storage/key_epoch.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace bookd::storage {

Result<std::shared_ptr<KeyEpoch>> KeyEpoch::Open(const std::string& path) {
  auto fail = [&](const char* what) {
    return MakeError(Errc::kInternal,
                     std::string("storage: ") + what + " " + path + ": " + std::strerror(errno));
  };
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot open");
  constexpr std::size_t kBytes = sizeof(std::uint64_t);
  struct stat st {};
  // A new file reads as zeros once extended; extending a file that another
  // process has just extended changes nothing.
  if (::fstat(fd, &st) != 0 || (static_cast<std::size_t>(st.st_size) < kBytes &&
                                ::ftruncate(fd, static_cast<off_t>(kBytes)) != 0)) {
    auto e = fail("cannot size");
    ::close(fd);
    return e;
  }
  void* map = ::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);  // the mapping keeps the file
  if (map == MAP_FAILED) return fail("cannot map");
  return std::shared_ptr<KeyEpoch>(new KeyEpoch(map, kBytes));
}

KeyEpoch::~KeyEpoch() { ::munmap(map_, bytes_); }

}  // namespace bookd::storage
