// The SQLite store: group commit behind a single writer, reads beside it.
//
// The booking states and the rules between them are the domain's
// (domain/lifecycle.h). The writer performs them: CreateBookingOp creates a
// held or confirmed booking, TransitionOp confirms or cancels, PatchBookingOp
// changes items, customer or metadata and keeps the status. "expired" is
// never written: a held row whose expires_at <= now reads as expired
// (domain::EffectiveStatus), and stops counting at that instant whether or
// not any clean-up has run.
//
// Invariants:
//  1. No oversell. Every decision that can add usage (CreateBookingOp,
//     PatchBookingOp) or lower capacity (PatchResourceOp) runs on the writer
//     thread inside a BEGIN IMMEDIATE transaction, i.e. while holding
//     SQLite's write lock across every process sharing the file, and is
//     taken against ledgers that reflect the database as of that transaction.
//  2. Caches are never staler than the transaction. The writer compares
//     PRAGMA data_version after each BEGIN IMMEDIATE with the value of its
//     previous transaction; a difference means another connection committed,
//     and all cached resources and ledgers are dropped and reloaded lazily.
//  3. Durability before acknowledgement. journal_mode=WAL. With
//     pipelined_sync (the default) the writer commits with
//     synchronous=NORMAL: COMMIT appends the batch to the WAL without
//     fsync, the batch goes to the sync thread, and the writer starts the
//     next one. The sync thread fdatasyncs the WAL, which makes every batch
//     committed before the call durable (the WAL is appended in commit
//     order and recovery keeps the prefix of whole transactions), and only
//     then calls their `done`, outside every lock. Without pipelined_sync,
//     synchronous=FULL: COMMIT returns after the fsync and the writer calls
//     `done` itself.
//  4. Commands are all-or-nothing. A command answers an expected Error
//     (validation, unavailable, precondition, ...) only before its first
//     write, so such a command leaves nothing behind. A command that fails
//     with an SQL error (kInternal) may have written part of its rows: the
//     whole transaction is rolled back, the caches are dropped, and the
//     batch runs again without that command, which is answered kInternal
//     (at most kBatchAttemptsMax attempts). This costs nothing on the
//     normal path, unlike a SAVEPOINT per command (about 2 us each). In-memory
//     ledger and resource changes are applied only after the command's SQL
//     succeeded; whenever a transaction is rolled back the caches are
//     dropped rather than patched back. If BEGIN or COMMIT fails, every
//     command of the batch is answered kOverloaded (503, retry): none of
//     it is durable. Renderers may therefore run more than once.
//  5. Idempotency. A command with an Idempotency-Key looks up (key_id, key)
//     in the same transaction that executes it; a row younger than 24 h with
//     the same request hash is replayed (nothing else happens), with another
//     hash it is kIdempotencyKeyReused. Otherwise the command executes and
//     its rendered answer is stored in the same transaction, unless it failed
//     with kInternal. A second command with the same pair while the first is
//     queued or running is answered kConflict by the CommandQueue. Expired
//     rows are swept at most once a second, a bounded number at a time.
//  6. Bounds. The queue holds at most queue_commands_max commands (beyond:
//     kOverloaded with Retry-After 1); a batch at most batch_commands_max. A
//     lone command is committed at once: the writer never waits to fill a
//     batch, batches grow only while the previous COMMIT is being fsynced.
//  7. Reads run on the calling thread, on a connection of that thread's own
//     (see Reader()), each in one snapshot; they see every batch whose
//     `done` has run, because `done` follows COMMIT. With pipelined_sync
//     they may also see a batch committed but not yet fsynced, which a
//     power failure (not a process crash) could still take away; such a
//     batch was never acknowledged.
//
// Ledger scope: a cached ledger holds every usage that can still count
// (confirmed, or held and not yet expired when the ledger was last pruned)
// and ends after its horizon (a day before it was loaded or last pruned); an
// item starting before that horizon is checked against a ledger loaded from
// the database for the occasion.
//
// Decisions the contract leaves open: If-Match is a precondition and is
// checked before any transition rule. Patching a cancelled booking is
// kInvalidTransition, patching an expired hold kHoldExpired. A replayed
// outcome carries std::monostate in `value`; `replay` is what to send.
// Every table is keyed by tenant first and every query filters by it.
#include "storage/sqlite_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "common/thread_name.h"
#include "storage/command_queue.h"
#include "storage/sqlite_checkpointer.h"
#include "storage/sqlite_reader.h"
#include "storage/sqlite_writer.h"

namespace bookd::storage {
namespace {

std::atomic<std::uint64_t> next_store_id{1};

// Committed batches that may wait for one fsync before the writer pauses.
constexpr std::size_t kSyncBacklogMax = 64;

class SqliteStore final : public Store {
 public:
  SqliteStore(const SqliteOptions& options, const domain::Clock& clock,
              std::unique_ptr<Writer> writer, std::unique_ptr<Checkpointer> checkpointer,
              std::shared_ptr<KeyEpoch> key_epoch)
      : options_(options),
        clock_(clock),
        key_epoch_(std::move(key_epoch)),
        checkpointer_(std::move(checkpointer)),
        queue_(options.queue_commands_max),
        writer_(std::move(writer)) {
    if (checkpointer_) checkpointer_->Attach(writer_->connection());
    writer_thread_ = std::thread([this] {
      NameThisThread("bookd-writer");
      WriterLoop();
    });
    if (options_.pipelined_sync) {
      sync_thread_ = std::thread([this] {
        NameThisThread("bookd-sync");
        SyncLoop();
      });
    }
  }

  ~SqliteStore() override { Close(); }

  void Submit(Command cmd) override { queue_.Submit(std::move(cmd)); }

  Result<Resource> GetResource(const std::string& tenant, const std::string& id) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->GetResource(tenant, id);
  }
  Result<Page<Resource>> ListResources(const std::string& tenant, const std::string& after_id,
                                       std::int64_t limit) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->ListResources(tenant, after_id, limit);
  }
  Result<std::vector<domain::Usage>> Usages(const std::string& tenant,
                                            const std::string& resource_id, domain::Interval span,
                                            Instant now) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->Usages(tenant, resource_id, span, now);
  }
  Result<std::vector<ResourceUsages>> ResourcesWithUsages(const std::string& tenant,
                                                          std::span<const std::string> ids,
                                                          domain::Interval span,
                                                          Instant now) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->ResourcesWithUsages(tenant, ids, span, now);
  }
  Result<Booking> GetBooking(const std::string& tenant, const std::string& id) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->GetBooking(tenant, id);
  }
  Result<Page<Booking>> ListBookings(const std::string& tenant, const BookingQuery& q,
                                     Instant now) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->ListBookings(tenant, q, now);
  }
  Result<ApiKey> FindKey(const std::string& secret_hash) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->FindKey(secret_hash);
  }
  Result<ApiKey> CreateKey(const std::string& tenant, Role role,
                           const std::string& secret_hash) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->CreateKey(tenant, role, secret_hash);
  }
  Result<std::vector<ApiKey>> ListKeys() override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->ListKeys();
  }
  Status RevokeKey(const std::string& id) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->RevokeKey(id);
  }
  Result<Tenant> CreateTenant(const std::string& id, const std::string& name) override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->CreateTenant(id, name);
  }
  Result<std::vector<Tenant>> ListTenants() override {
    auto conn = Reader();
    if (!conn) return std::move(conn).error();
    return (*conn)->ListTenants();
  }
  bool Ready() override {
    auto conn = Reader();
    return conn.ok() && (*conn)->Ready();
  }

  StoreStats Stats() override { return queue_.Stats(); }
  void Close() override;

 private:
  // A batch whose transaction has ended, waiting for its answers.
  struct Finished {
    std::vector<Command> cmds;
    std::vector<WriteOutcome> outcomes;
  };

  void WriterLoop();
  void SyncLoop();
  // fsyncs the WAL: every transaction committed before the call is durable
  // once it returns Ok.
  Status SyncWal();
  Result<ReadConn*> Reader();

  const SqliteOptions options_;
  const domain::Clock& clock_;
  const std::uint64_t id_ = next_store_id.fetch_add(1);
  // Read connections cached on other threads are keyed by id_ and dropped
  // once this token has expired (the store is closed).
  std::shared_ptr<const int> alive_ = std::make_shared<const int>(0);
  const std::shared_ptr<KeyEpoch> key_epoch_;  // shared by this store's read connections

  std::unique_ptr<Checkpointer> checkpointer_;  // null: SQLite checkpoints in COMMIT
  CommandQueue queue_;
  std::unique_ptr<Writer> writer_;  // used by writer_thread_ only
  std::thread writer_thread_;

  // Committed batches waiting for the WAL's fsync (options_.pipelined_sync).
  std::mutex sync_mu_;
  std::condition_variable sync_wake_;  // work for the sync thread
  std::condition_variable sync_room_;  // room for the writer
  std::vector<Finished> to_sync_;      // GUARDED_BY(sync_mu_)
  bool sync_closing_ = false;          // GUARDED_BY(sync_mu_)
  std::thread sync_thread_;
  int wal_fd_ = -1;  // sync_thread_ only; opened on first use
};

void SqliteStore::WriterLoop() {
  std::vector<Command> batch;
  std::vector<WriteOutcome> outcomes;
  for (;;) {
    batch.reserve(options_.batch_commands_max);
    if (!queue_.TakeBatch(batch, options_.batch_commands_max)) return;  // closed and drained

    // A replayed answer is a 201 too: it waits for the fsync like the first
    // (another process may have committed it a moment ago).
    const bool wrote = writer_->RunBatch(batch, outcomes);
    assert(outcomes.size() == batch.size());
    const bool needs_sync =
        wrote || std::any_of(outcomes.begin(), outcomes.end(),
                             [](const WriteOutcome& o) { return o.replay.has_value(); });

    Finished finished{std::move(batch), std::move(outcomes)};
    batch = {};
    outcomes = {};
    if (!options_.pipelined_sync || !needs_sync) {
      // synchronous=FULL: COMMIT fsynced the WAL. Or nothing was written:
      // every command was refused (a sold-out flash sale), and a refusal
      // needs no fsync. It may rest on a batch still being fsynced; should
      // a power failure lose that batch, the refusal erred on the safe side.
      queue_.Answer(finished.cmds, finished.outcomes);
      continue;
    }
    // The next batch starts while this one's WAL frames are being fsynced;
    // a bounded backlog keeps the writer from running far ahead of the disk.
    std::unique_lock lock(sync_mu_);
    sync_room_.wait(lock, [this] { return to_sync_.size() < kSyncBacklogMax; });
    to_sync_.push_back(std::move(finished));
    lock.unlock();
    sync_wake_.notify_one();
  }
}

void SqliteStore::SyncLoop() {
  std::vector<Finished> group;
  for (;;) {
    {
      std::unique_lock lock(sync_mu_);
      sync_wake_.wait(lock, [this] { return sync_closing_ || !to_sync_.empty(); });
      if (to_sync_.empty()) return;  // closing and drained
      group.swap(to_sync_);
    }
    sync_room_.notify_one();
    // One fsync covers every batch committed so far (the WAL is written in
    // commit order), so the group shares it.
    if (Status synced = SyncWal(); !synced) {
      std::fprintf(stderr, "level=error event=wal_sync_failed detail=\"%s\"\n",
                   synced.error().detail.c_str());
      for (Finished& f : group) {
        for (WriteOutcome& out : f.outcomes) {
          out = WriteOutcome{MakeError(Errc::kInternal, "storage: the write may not be durable: " +
                                                            synced.error().detail),
                             std::nullopt};
        }
      }
    }
    for (Finished& f : group) queue_.Answer(f.cmds, f.outcomes);
    group.clear();
  }
}

Status SqliteStore::SyncWal() {
  if (wal_fd_ < 0) {
    // The writer's connection keeps the WAL file in place (SQLite removes it
    // only when the last connection closes), so one descriptor serves for
    // the store's life; fsync through any descriptor flushes the file.
    const std::string wal = options_.path + "-wal";
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (wal_fd_ < 0) return MakeError(Errc::kInternal, "open " + wal + ": " + std::strerror(errno));
  }
  if (::fdatasync(wal_fd_) != 0) {
    return MakeError(Errc::kInternal, std::string("fdatasync of the WAL: ") + std::strerror(errno));
  }
  return Ok{};
}

void SqliteStore::Close() {  // idempotent
  queue_.Close();
  if (writer_thread_.joinable()) writer_thread_.join();
  {
    std::lock_guard lock(sync_mu_);
    sync_closing_ = true;
  }
  sync_wake_.notify_one();
  if (sync_thread_.joinable()) sync_thread_.join();
  if (wal_fd_ >= 0) ::close(wal_fd_);
  wal_fd_ = -1;
  writer_.reset();  // before the checkpointer its WAL hook points to
  checkpointer_.reset();
  alive_.reset();
}

Result<ReadConn*> SqliteStore::Reader() {
  // A handful of stores live in one process at most (tests open several);
  // a thread keeps one connection per live store.
  struct Entry {
    std::uint64_t store_id;
    std::weak_ptr<const int> alive;
    std::unique_ptr<ReadConn> conn;
  };
  thread_local std::vector<Entry> entries;
  std::erase_if(entries, [](const Entry& e) { return e.alive.expired(); });
  for (Entry& e : entries) {
    if (e.store_id == id_) return e.conn.get();
  }
  if (!alive_) return MakeError(Errc::kInternal, "storage: the store is closed");
  auto conn = ReadConn::Open(options_.path, options_.busy_timeout_ms, clock_, key_epoch_);
  if (!conn) return std::move(conn).error();
  entries.push_back(Entry{id_, alive_, std::move(*conn)});
  return entries.back().conn.get();
}

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options,
                                               const domain::Clock& clock) {
  SqliteOptions o = options;
  o.batch_commands_max = std::clamp<std::size_t>(o.batch_commands_max, 1, 65536);
  o.queue_commands_max = std::clamp<std::size_t>(o.queue_commands_max, 1, 10000000);
  o.busy_timeout_ms = std::clamp(o.busy_timeout_ms, 0, 600000);

  const std::filesystem::path parent = std::filesystem::path(o.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return MakeError(Errc::kInternal,
                       "storage: cannot create " + parent.string() + ": " + ec.message());
    }
  }
  auto writer = Writer::Open(o, clock);
  if (!writer) return std::move(writer).error();
  std::unique_ptr<Checkpointer> checkpointer;
  if (o.background_checkpoints) {
    auto c = Checkpointer::Open(o.path, o.busy_timeout_ms);
    if (!c) return std::move(c).error();
    checkpointer = std::move(*c);
  }
  auto key_epoch = KeyEpoch::Open(o.path + "-keys");
  if (!key_epoch) return std::move(key_epoch).error();
  return std::unique_ptr<Store>(new SqliteStore(o, clock, std::move(*writer),
                                                std::move(checkpointer), std::move(*key_epoch)));
}

}  // namespace bookd::storage
