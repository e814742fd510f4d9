"""Derived data: everything the views read, kept right by every batch the workers write.

- spec.py: what state each fact type keeps (an entity's winning version);
- changes.py: what a batch changes, in SQL against the state (claims of event_ids, new winners,
  customers' order lists);
- sums.py: the additive tables and each entity's (or customer's) contribution to them;
- tables.py: their DDL, and the state's (EmbeddedRocksDB key-value tables);
- maintenance.py: the per-batch protocol that applies it all, and recovery after a crash;
- rebuild.py: the same tables computed from all raw facts (migration, bulk loads, reconcile);
- views.py: the metric views of docs/metrics.md over the sums.
"""
