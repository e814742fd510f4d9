-- touchpulse: least-privilege ClickHouse users.
--
-- A template: infra/clickhouse/initdb/10-touchpulse-users.sh fills in the database name and
-- the password placeholders from the environment and runs it as the server's bootstrap
-- user (CLICKHOUSE_USER, which has access management) on every start. Every statement is
-- idempotent, so a password changed in infra/.env takes effect at the next restart.
--
--   touchpulse_admin         DDL for `touchpulse up`: owns the database, creates tables and views.
--   touchpulse_writer        the worker: INSERT into the fact tables and everything derived from
--                            them batch by batch (touchpulse/derived/maintenance.py): SELECT the raw
--                            tables (a batch left open by a crash is read back), INSERT and SELECT
--                            the state and the sums, DELETE a finished batch's `open_batches` row
--                            and published notices from `outbox`, write `customer_notices`,
--                            its own in-memory working tables `_w*`, and `schema_info`.
--   touchpulse_reader        Grafana, `touchpulse query`, the scheduled flows: SELECT on the views only
--                            (the flows' Grafana datasource is built from their DSN, so it is this user too).
--   touchpulse_view_definer  never logs in; the metric views run with its rights.
--
-- Why SQL SECURITY DEFINER: a normal view runs with its invoker's rights by default
-- (default_normal_view_sql_security = INVOKER), so a reader limited to the views would be
-- refused the fact tables underneath. The admin's session settings below make every view it
-- creates `DEFINER = touchpulse_view_definer SQL SECURITY DEFINER`, without any change to the
-- DDL itself (the same schema code runs on embedded chDB, which has no users). The definer can
-- only SELECT this database and has a random password that is never stored: no one can log in
-- as it. (HOST NONE would say the same more plainly, but on a cluster the Distributed
-- sub-queries re-authenticate the user on the other shards, and a host rule would refuse them.)
-- The admin may name only that one user as a definer (SET DEFINER).
--
-- Placeholders are replaced as SQL string literals (quotes and backslashes escaped) and the
-- database as a checked plain identifier, by the init script; never edit values in here.

-- The definer first: the admin's settings name it.
CREATE USER IF NOT EXISTS touchpulse_view_definer IDENTIFIED WITH sha256_password BY '{{definer_password}}';
ALTER USER touchpulse_view_definer IDENTIFIED WITH sha256_password BY '{{definer_password}}';
GRANT SELECT ON {{database}}.* TO touchpulse_view_definer;

-- Admin: DDL on its own database only, ON CLUSTER for the cluster layout, table engines the schema uses.
CREATE USER IF NOT EXISTS touchpulse_admin IDENTIFIED WITH sha256_password BY '{{admin_password}}';
ALTER USER touchpulse_admin IDENTIFIED WITH sha256_password BY '{{admin_password}}'
    SETTINGS default_normal_view_sql_security = 'DEFINER', default_view_definer = 'touchpulse_view_definer';
GRANT ALL ON {{database}}.* TO touchpulse_admin;
GRANT SET DEFINER ON touchpulse_view_definer TO touchpulse_admin;
GRANT CLUSTER ON *.* TO touchpulse_admin;
GRANT TABLE ENGINE ON MergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON ReplacingMergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON ReplicatedMergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON ReplicatedReplacingMergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON Distributed TO touchpulse_admin;
GRANT TABLE ENGINE ON AggregatingMergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON ReplicatedAggregatingMergeTree TO touchpulse_admin;
GRANT TABLE ENGINE ON EmbeddedRocksDB TO touchpulse_admin;

-- Writer: INSERT into the facts, SELECT them back (recovery), INSERT and SELECT the derived
-- tables, DELETE finished batches from `open_batches`, and its own in-memory working tables
-- (`_w<worker>_*`, created at start and dropped at a clean stop); no DDL on anything else.
-- The *_local grants matter only on a cluster, where a Distributed table forwards to them;
-- distributed_foreground_insert makes an INSERT return only once every shard has its rows,
-- so the worker never commits Kafka offsets for rows still queued on one node's disk.
CREATE USER IF NOT EXISTS touchpulse_writer IDENTIFIED WITH sha256_password BY '{{writer_password}}';
ALTER USER touchpulse_writer IDENTIFIED WITH sha256_password BY '{{writer_password}}'
    SETTINGS distributed_foreground_insert = 1;
GRANT INSERT ON {{database}}.calls TO touchpulse_writer;
GRANT SELECT ON {{database}}.calls TO touchpulse_writer;
GRANT INSERT ON {{database}}.purchases TO touchpulse_writer;
GRANT SELECT ON {{database}}.purchases TO touchpulse_writer;
GRANT INSERT ON {{database}}.reviews TO touchpulse_writer;
GRANT SELECT ON {{database}}.reviews TO touchpulse_writer;
GRANT INSERT ON {{database}}.surveys TO touchpulse_writer;
GRANT SELECT ON {{database}}.surveys TO touchpulse_writer;
GRANT INSERT ON {{database}}.followups TO touchpulse_writer;
GRANT SELECT ON {{database}}.followups TO touchpulse_writer;
GRANT INSERT ON {{database}}.followup_updates TO touchpulse_writer;
GRANT SELECT ON {{database}}.followup_updates TO touchpulse_writer;
GRANT INSERT ON {{database}}.dead_letters TO touchpulse_writer;
GRANT SELECT ON {{database}}.dead_letters TO touchpulse_writer;
GRANT INSERT ON {{database}}.calls_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.calls_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.purchases_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.purchases_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.reviews_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.reviews_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.surveys_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.surveys_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.followups_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.followups_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.followup_updates_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.followup_updates_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.dead_letters_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.dead_letters_local TO touchpulse_writer;
GRANT INSERT ON {{database}}.calls_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.calls_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.purchases_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.purchases_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.reviews_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.reviews_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.surveys_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.surveys_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.followups_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.followups_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.followup_updates_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.followup_updates_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.queue_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.queue_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.seen TO touchpulse_writer;
GRANT SELECT ON {{database}}.seen TO touchpulse_writer;
GRANT INSERT ON {{database}}.customers_state TO touchpulse_writer;
GRANT SELECT ON {{database}}.customers_state TO touchpulse_writer;
GRANT INSERT ON {{database}}.positions TO touchpulse_writer;
GRANT SELECT ON {{database}}.positions TO touchpulse_writer;
GRANT INSERT ON {{database}}.open_batches TO touchpulse_writer;
GRANT SELECT ON {{database}}.open_batches TO touchpulse_writer;
GRANT INSERT ON {{database}}.sums TO touchpulse_writer;
GRANT SELECT ON {{database}}.sums TO touchpulse_writer;
GRANT INSERT ON {{database}}.outbox TO touchpulse_writer;
GRANT SELECT ON {{database}}.outbox TO touchpulse_writer;
GRANT INSERT ON {{database}}.customer_notices TO touchpulse_writer;
GRANT SELECT ON {{database}}.customer_notices TO touchpulse_writer;
GRANT INSERT ON {{database}}.customer_notices_local TO touchpulse_writer;
GRANT SELECT ON {{database}}.customer_notices_local TO touchpulse_writer;
GRANT ALTER DELETE ON {{database}}.open_batches TO touchpulse_writer;
GRANT ALTER DELETE ON {{database}}.outbox TO touchpulse_writer;
GRANT SELECT ON {{database}}.schema_info TO touchpulse_writer;
GRANT CREATE TABLE, DROP TABLE, TRUNCATE, INSERT, SELECT ON {{database}}._w* TO touchpulse_writer;
GRANT TABLE ENGINE ON Memory TO touchpulse_writer;

-- Reader: SELECT on the metric views and nothing else. readonly = 2, fixed by CONST, forbids
-- writes and DDL even if a wider grant ever slips in, yet lets the Grafana plugin and
-- clickhouse-connect set per-query settings (readonly = 1 would refuse them).
CREATE USER IF NOT EXISTS touchpulse_reader IDENTIFIED WITH sha256_password BY '{{reader_password}}';
ALTER USER touchpulse_reader IDENTIFIED WITH sha256_password BY '{{reader_password}}' SETTINGS readonly = 2 CONST;
GRANT SELECT ON {{database}}.calls_latest TO touchpulse_reader;
GRANT SELECT ON {{database}}.purchases_latest TO touchpulse_reader;
GRANT SELECT ON {{database}}.reviews_latest TO touchpulse_reader;
GRANT SELECT ON {{database}}.surveys_latest TO touchpulse_reader;
GRANT SELECT ON {{database}}.nps_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.nps_rolling_7d TO touchpulse_reader;
GRANT SELECT ON {{database}}.calls_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.calls_hourly TO touchpulse_reader;
GRANT SELECT ON {{database}}.reviews_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.purchases_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.loyalty_monthly TO touchpulse_reader;
GRANT SELECT ON {{database}}.ingest_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.calls_resolution_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.agents_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.followups_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.followups_open TO touchpulse_reader;
GRANT SELECT ON {{database}}.followup_queue TO touchpulse_reader;
GRANT SELECT ON {{database}}.followup_updates_latest TO touchpulse_reader;
-- Views the dashboards and flows read beyond the metrics contract (touchpulse.clickhouse.dashboard_views).
GRANT SELECT ON {{database}}.touchpoint_activity TO touchpulse_reader;
GRANT SELECT ON {{database}}.followups_latest TO touchpulse_reader;
GRANT SELECT ON {{database}}.followup_versions TO touchpulse_reader;
GRANT SELECT ON {{database}}.agent_calls TO touchpulse_reader;
GRANT SELECT ON {{database}}.reviews_overdue TO touchpulse_reader;
GRANT SELECT ON {{database}}.dead_letters_daily TO touchpulse_reader;
GRANT SELECT ON {{database}}.ingest_freshness TO touchpulse_reader;
GRANT SELECT ON {{database}}.call_waits TO touchpulse_reader;
GRANT SELECT ON {{database}}.review_reply_times TO touchpulse_reader;
GRANT SELECT ON {{database}}.view_freshness TO touchpulse_reader;
GRANT SELECT ON {{database}}.missed_not_called_back TO touchpulse_reader;
GRANT SELECT ON {{database}}.callbacks_hourly TO touchpulse_reader;
GRANT SELECT ON {{database}}.fcr_settled TO touchpulse_reader;
GRANT SELECT ON {{database}}.schema_info TO touchpulse_reader;
