"""The embedded ClickHouse opens with touchpulse's configuration (touchpulse/data/chdb.xml): the
state tables' RocksDB memtables are flushed at 4 MiB, so a long-running worker's memory does not
grow by 64 MiB per table. In a process of its own: the first client of a process configures chDB."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, sys
from touchpulse.clickhouse.client import connect
from touchpulse.settings import load_settings
c = connect(load_settings(env={"TOUCHPULSE_CLICKHOUSE": "chdb://" + sys.argv[1]}, dotenv=None))
c.command("CREATE DATABASE IF NOT EXISTS t")
c.command("CREATE TABLE t.kv (k String, v String) ENGINE = EmbeddedRocksDB PRIMARY KEY k "
          "SETTINGS optimize_for_bulk_insert = 0")
for i in range(10):  # 10 inserts of ~1 MiB each: through the memtable
    c.command(f"INSERT INTO t.kv SELECT toString(number), repeat('x', 200) FROM numbers({i * 5000}, 5000)")
flushed = c.query("SELECT value FROM system.rocksdb WHERE database = 't' AND table = 'kv' "
                  "AND name = 'flush.write.bytes'").result_rows
print(json.dumps({"flushed": int(flushed[0][0]) if flushed else 0,
                  "rows": int(c.query("SELECT count() FROM t.kv").result_rows[0][0])}))
"""


def test_rocksdb_memtables_are_flushed_at_four_mib(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "chdb")], capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert out["rows"] == 50_000
    # ~10 MiB written: with RocksDB's default 64 MiB memtable nothing would be flushed yet.
    assert out["flushed"] > 0
