// bookd's command line: `serve`, `tenants create|list`, `keys create|list|revoke`,
// `migrate`.
// Options come from flags or BOOKD_* environment variables; numeric options
// are clamped to sane bounds at start and the clamping is logged.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "cli/db_url.h"
#include "cli/log.h"
#include "cli/serve.h"
#include "common/crypto.h"
#include "storage/store.h"

namespace bookd::cli {
namespace {

constexpr const char* kDefaultDb = "sqlite:./data/bookd.db";

int Fail(const Error& e) {
  LogLine("error", "failed", "detail=\"" + e.detail + "\"");
  return 1;
}

int KeysCreate(const std::string& db, const std::string& role_name, const std::string& tenant) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);
  if (!store) return Fail(store.error());
  storage::Role role = role_name == "admin" ? storage::Role::kAdmin : storage::Role::kBooking;
  std::string secret = NewApiKeySecret();
  auto key = (*store)->CreateKey(tenant, role, Sha256Hex(secret));
  (*store)->Close();
  if (!key) return Fail(key.error());
  std::cout << secret << std::endl;  // the only time the secret is ever shown
  return 0;
}

int TenantsCreate(const std::string& db, const std::string& id, const std::string& name) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);
  if (!store) return Fail(store.error());
  auto tenant = (*store)->CreateTenant(id, name);
  (*store)->Close();
  if (!tenant) return Fail(tenant.error());
  std::cout << tenant->id << std::endl;
  return 0;
}

int TenantsList(const std::string& db) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);
  if (!store) return Fail(store.error());
  auto tenants = (*store)->ListTenants();
  (*store)->Close();
  if (!tenants) return Fail(tenants.error());
  // The name goes last: it is the only field that may hold spaces.
  for (const auto& t : *tenants) {
    std::cout << t.id << ' ' << domain::FormatInstant(t.created_at) << ' ' << t.name << '\n';
  }
  return 0;
}

int KeysList(const std::string& db) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);
  if (!store) return Fail(store.error());
  auto keys = (*store)->ListKeys();
  (*store)->Close();
  if (!keys) return Fail(keys.error());
  for (const auto& k : *keys) {
    std::cout << k.id << ' ' << (k.role == storage::Role::kAdmin ? "admin" : "booking") << ' '
              << k.tenant << ' ' << domain::FormatInstant(k.created_at) << ' '
              << (k.revoked ? "revoked" : "active") << '\n';
  }
  return 0;
}

int KeysRevoke(const std::string& db, const std::string& id) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);
  if (!store) return Fail(store.error());
  auto status = (*store)->RevokeKey(id);
  (*store)->Close();
  if (!status) return Fail(status.error());
  return 0;
}

int Migrate(const std::string& db) {
  domain::SystemClock clock;
  auto store = OpenStore(db, clock);  // opening applies every pending migration
  if (!store) return Fail(store.error());
  (*store)->Close();
  LogLine("info", "migrated", "db=" + RedactedDbUrl(db));
  return 0;
}

}  // namespace
}  // namespace bookd::cli

int main(int argc, char** argv) {
  using namespace bookd::cli;
  CLI::App app{"bookd: a booking and reservation server"};
  app.require_subcommand(1);

  std::string db = kDefaultDb;
  auto add_db = [&db](CLI::App* cmd) {
    cmd->add_option("--db", db,
                    "sqlite:PATH (default " + std::string(kDefaultDb) +
                        "), a path, or postgres://USER@HOST:PORT/DB")
        ->envname("BOOKD_DB");
  };

  ServeOptions serve;
  serve.threads = std::max(1u, std::thread::hardware_concurrency());
  serve.pool_threads = serve.threads;
  auto* serve_cmd = app.add_subcommand("serve", "run the HTTP server");
  add_db(serve_cmd);
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: any free)")
      ->envname("BOOKD_LISTEN");
  serve_cmd->add_option("--threads", serve.threads, "threads serving connections")
      ->envname("BOOKD_THREADS");
  serve_cmd->add_option("--workers", serve.workers, "server processes sharing the port")
      ->envname("BOOKD_WORKERS");
  serve_cmd->add_option("--pool-threads", serve.pool_threads, "threads of the CPU pool")
      ->envname("BOOKD_POOL_THREADS");
  serve_cmd->add_option("--pool-queue", serve.pool_queue_max, "CPU pool queue bound")
      ->envname("BOOKD_POOL_QUEUE");
  serve_cmd->add_option("--db-pool", serve.db_pool, "PostgreSQL read connections per process")
      ->envname("BOOKD_DB_POOL")
      ->check(CLI::Range(1, 1000));
  serve_cmd->add_option("--grace", serve.grace_s, "seconds in-flight requests get at shutdown")
      ->envname("BOOKD_GRACE");
  serve_cmd
      ->add_option("--connections-per-address", serve.connections_per_address,
                   "open connections allowed from one client address (0: no cap)")
      ->envname("BOOKD_CONNECTIONS_PER_ADDRESS");
  serve_cmd
      ->add_option("--rate-limit", serve.rate_limit_per_s,
                   "requests per second per API key in each process (0: no limit)")
      ->envname("BOOKD_RATE_LIMIT");
  serve_cmd
      ->add_option("--rate-burst", serve.rate_burst,
                   "requests one API key may send at once (0: one second's worth)")
      ->envname("BOOKD_RATE_BURST");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate chain: serve HTTPS only")
      ->envname("BOOKD_TLS_CERT");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key of --tls-cert")
      ->envname("BOOKD_TLS_KEY");

  auto* tenants_cmd = app.add_subcommand("tenants", "manage tenants");
  tenants_cmd->require_subcommand(1);
  std::string tenant_id;
  std::string tenant_name;
  auto* tenant_create_cmd = tenants_cmd->add_subcommand("create", "create a tenant; prints its id");
  add_db(tenant_create_cmd);
  tenant_create_cmd
      ->add_option("id", tenant_id,
                   "1 to 64 letters, digits, '.', '_' or '-'; first a letter or digit")
      ->required();
  tenant_create_cmd->add_option("--name", tenant_name, "display name (default: the id)");
  auto* tenant_list_cmd = tenants_cmd->add_subcommand("list", "list tenants: id, created, name");
  add_db(tenant_list_cmd);

  auto* keys_cmd = app.add_subcommand("keys", "manage API keys");
  keys_cmd->require_subcommand(1);
  std::string role;
  std::string tenant = bookd::storage::kDefaultTenant;
  auto* create_cmd = keys_cmd->add_subcommand("create", "create a key; prints only the key");
  add_db(create_cmd);
  create_cmd->add_option("--role", role, "admin or booking")
      ->required()
      ->check(CLI::IsMember({"admin", "booking"}));
  create_cmd->add_option("--tenant", tenant,
                         "tenant the key belongs to (default: default); must exist");
  auto* list_cmd = keys_cmd->add_subcommand("list", "list keys (never their secrets)");
  add_db(list_cmd);
  std::string key_id;
  auto* revoke_cmd = keys_cmd->add_subcommand("revoke", "revoke a key by id");
  add_db(revoke_cmd);
  revoke_cmd->add_option("id", key_id, "key id as shown by `keys list`")->required();

  auto* migrate_cmd = app.add_subcommand("migrate", "apply pending schema migrations and exit");
  add_db(migrate_cmd);

  CLI11_PARSE(app, argc, argv);

  if (*serve_cmd) return Serve(db, serve);
  if (*tenant_create_cmd) return TenantsCreate(db, tenant_id, tenant_name);
  if (*tenant_list_cmd) return TenantsList(db);
  if (*create_cmd) return KeysCreate(db, role, tenant);
  if (*list_cmd) return KeysList(db);
  if (*revoke_cmd) return KeysRevoke(db, key_id);
  if (*migrate_cmd) return Migrate(db);
  return 2;
}
