#include "storage/sqlite_page_cache.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <new>

namespace bookd::storage {
namespace {

// SQLite's default lock byte offset (PENDING_BYTE in its source): the page
// that holds it is never a B-tree page, and the one after it is the number
// balance_nonroot() lends a page while it swaps two page numbers.
constexpr unsigned kPendingByte = 0x40000000;

sqlite3_pcache_methods2 g_inner{};  // pcache1, read once before SQLite initializes
std::atomic<std::uint64_t> g_forwarded{0};
std::atomic<std::uint64_t> g_skipped{0};
std::atomic<std::uint64_t> g_swaps{0};

struct Cache {
  sqlite3_pcache* inner = nullptr;
  unsigned swap_key = 0;  // the temporary number for this page size
  unsigned max_key = 0;   // no page numbered above this can be in the cache
};

Cache* Of(sqlite3_pcache* p) { return reinterpret_cast<Cache*>(p); }

int Init(void*) { return g_inner.xInit != nullptr ? g_inner.xInit(g_inner.pArg) : SQLITE_OK; }

void Shutdown(void*) {
  if (g_inner.xShutdown != nullptr) g_inner.xShutdown(g_inner.pArg);
}

sqlite3_pcache* Create(int page_size, int extra_size, int purgeable) {
  auto* c = new (std::nothrow) Cache;
  if (c == nullptr) return nullptr;
  c->inner = g_inner.xCreate(page_size, extra_size, purgeable);
  if (c->inner == nullptr) {
    delete c;
    return nullptr;
  }
  c->swap_key = kPendingByte / static_cast<unsigned>(page_size) + 1;
  return reinterpret_cast<sqlite3_pcache*>(c);
}

void Cachesize(sqlite3_pcache* p, int pages) { g_inner.xCachesize(Of(p)->inner, pages); }

int Pagecount(sqlite3_pcache* p) { return g_inner.xPagecount(Of(p)->inner); }

sqlite3_pcache_page* Fetch(sqlite3_pcache* p, unsigned key, int create) {
  Cache* c = Of(p);
  sqlite3_pcache_page* page = g_inner.xFetch(c->inner, key, create);
  if (page != nullptr) c->max_key = std::max(c->max_key, key);
  return page;
}

void Unpin(sqlite3_pcache* p, sqlite3_pcache_page* page, int discard) {
  g_inner.xUnpin(Of(p)->inner, page, discard);
}

void Rekey(sqlite3_pcache* p, sqlite3_pcache_page* page, unsigned old_key, unsigned new_key) {
  Cache* c = Of(p);
  g_inner.xRekey(c->inner, page, old_key, new_key);
  // The swap number is lent for the length of one swap and given back
  // before the balance returns, so it never outlives a transaction.
  if (new_key == c->swap_key) {
    g_swaps.fetch_add(1, std::memory_order_relaxed);
  } else {
    c->max_key = std::max(c->max_key, new_key);
  }
}

void Truncate(sqlite3_pcache* p, unsigned limit) {
  Cache* c = Of(p);
  if (limit > c->max_key) {
    g_skipped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  g_forwarded.fetch_add(1, std::memory_order_relaxed);
  g_inner.xTruncate(c->inner, limit);
  c->max_key = limit == 0 ? 0 : limit - 1;
}

void Destroy(sqlite3_pcache* p) {
  Cache* c = Of(p);
  g_inner.xDestroy(c->inner);
  delete c;
}

void Shrink(sqlite3_pcache* p) { g_inner.xShrink(Of(p)->inner); }

}  // namespace

bool InstallPageCache() {
  sqlite3_pcache_methods2 inner{};
  if (sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &inner) != SQLITE_OK || inner.xCreate == nullptr) {
    return false;
  }
  g_inner = inner;
  sqlite3_pcache_methods2 wrapper{};
  wrapper.iVersion = 1;
  wrapper.pArg = nullptr;
  wrapper.xInit = Init;
  wrapper.xShutdown = Shutdown;
  wrapper.xCreate = Create;
  wrapper.xCachesize = Cachesize;
  wrapper.xPagecount = Pagecount;
  wrapper.xFetch = Fetch;
  wrapper.xUnpin = Unpin;
  wrapper.xRekey = Rekey;
  wrapper.xTruncate = Truncate;
  wrapper.xDestroy = Destroy;
  wrapper.xShrink = Shrink;
  return sqlite3_config(SQLITE_CONFIG_PCACHE2, &wrapper) == SQLITE_OK;
}

PageCacheStats GetPageCacheStats() {
  return {g_forwarded.load(std::memory_order_relaxed), g_skipped.load(std::memory_order_relaxed),
          g_swaps.load(std::memory_order_relaxed)};
}

}  // namespace bookd::storage
