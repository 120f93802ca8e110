// The SQLite schema and its migrations. PRAGMA user_version is the number of
// migrations applied. Migrate() runs the missing ones in one IMMEDIATE
// transaction, so that several processes opening the same file at once apply
// each migration exactly once, and a crash mid-migration leaves the previous
// version intact.
#pragma once

#include "common/result.h"
#include "storage/sqlite_db.h"

namespace bookd::storage {

// The version a fully migrated database has.
int SchemaVersion();

// Sets the connection pragmas (WAL, synchronous=FULL) and migrates.
Status Migrate(Db& db);

// Migrates to `target_version` only (1 to SchemaVersion()): for tests that
// need a database as an older bookd left it.
Status Migrate(Db& db, int target_version);

// Pragmas every connection needs (the journal mode is the file's, set once).
Status ConfigureConnection(Db& db);

}  // namespace bookd::storage
