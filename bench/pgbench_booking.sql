-- One booking per transaction, the way a plain application would write it on bookd's own schema
-- (bench/pg_run.sh runs `bookd migrate` first and creates the resources through bookd's API):
-- lock the resource row, add up the units already taken in the interval, insert the booking and
-- its item if one more unit fits, commit. bench/pg_run.sh runs it with pgbench, the same number
-- of clients as bookd-loadgen and the same workload:
--   -D set=N        resources are pgb-N-1 .. pgb-N-<nres> (one fresh set per measurement)
--   -D nres=R       how many (uniform 100, flash 10)
--   -D flash=0|1    0: one random hour of 2027 per booking (as `loadgen --scenario uniform`);
--                   1: every booking asks for 2027-06-01 18:00-22:00 (as `--scenario flash`)
-- Items store Unix seconds, as bookd does. Only overlapping items count; with whole hours (or
-- one shared interval) their sum is the peak use, so the check is the one bookd makes.
\set r random(1, :nres)
\if :flash
\set start_s 1811872800
\set end_s 1811887200
\else
\set hour random(0, 8759)
\set start_s 1798761600 + :hour * 3600
\set end_s :start_s + 3600
\endif
BEGIN;
SELECT capacity FROM resources
  WHERE tenant = 'default' AND id = 'pgb-' || :set || '-' || :r FOR UPDATE \gset
SELECT coalesce(sum(quantity), 0) AS used FROM booking_items
  WHERE tenant = 'default' AND resource_id = 'pgb-' || :set || '-' || :r
    AND end_at > :start_s AND start_at < :end_s \gset
\if :used + 1 <= :capacity
INSERT INTO bookings (tenant, id, status, customer, metadata_json, expires_at, version,
                      created_at, updated_at)
  VALUES ('default', 'pgb_' || replace(gen_random_uuid()::text, '-', ''), 'confirmed', NULL, '{}',
          NULL, 1, extract(epoch FROM now())::bigint, extract(epoch FROM now())::bigint)
  RETURNING seq \gset
INSERT INTO booking_items (booking_seq, idx, tenant, resource_id, start_at, end_at, quantity)
  VALUES (:seq, 0, 'default', 'pgb-' || :set || '-' || :r, :start_s, :end_s, 1);
\endif
COMMIT;
