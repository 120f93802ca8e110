// The PostgreSQL schema and its migrations. Migrations are numbered, append
// only, and recorded in schema_migrations; MigratePg applies the missing ones
// in one transaction under a transaction-scoped advisory lock, so that several
// hosts starting together apply each exactly once and none sees a half-made
// schema. A database written by a newer bookd is refused.
#pragma once

#include "common/result.h"
#include "storage/pg_conn.h"

namespace bookd::storage {

int PgSchemaVersion();

Status MigratePg(PgConn& conn);

}  // namespace bookd::storage
