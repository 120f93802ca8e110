// Names the calling thread (at most 15 characters, as Linux allows), so that
// `top -H`, `perf` and debuggers show what each thread of bookd is for.
#pragma once

#include <pthread.h>

namespace bookd {

inline void NameThisThread(const char* name) { (void)pthread_setname_np(pthread_self(), name); }

}  // namespace bookd
