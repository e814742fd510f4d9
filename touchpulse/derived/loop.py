"""The closed loop: a follow-up as the team sees it, combined from the follow-up the worker raised
(fact type `followup`) and the updates the team sent about it (`followup_update`).

The two halves are kept by different workers: a follow-up by the worker that applied its survey
answer, its updates by the worker that owns their partition (producers key them by followup_id,
with their own partitioner). Combining them in either batch would race with the other, so the
combination has one owner, as a customer's lists do (docs/scaling.md): a batch that changes
either half leaves a notice (followup_id, "queue", followup_id), published on the internal
customers topic keyed by the followup_id; the worker that owns that partition reads both halves
as they stand then and updates `queue_state`, with its deltas (sums.py, metric "followup"). An
update that arrives before its follow-up waits in its own state and counts from the moment the
follow-up exists; one whose follow-up never exists never counts.

Whether a customer was won back needs the customer's later answers: a change of a closed
follow-up leaves a notice (customer, "closure", followup_id) for the customer's owner, and a
change of a promoter answer (9-10) one of kind "survey"; the customer's lists of closed follow-ups
and promoter answers give the rows of metric "recovered" (changes.py, sums.py).
"""

from __future__ import annotations

from touchpulse.derived.spec import NO_TIME, POSITION, state_columns, version_columns

_IDENTITY = ["found", "event_id"] + [n for n, _ in POSITION]


def queue_columns() -> list[tuple[str, str]]:
    """A follow-up as the queue keeps it: the raised follow-up (`found` = it exists), then its
    updates' state (`u_found` = it has one: the winning update and the first contact)."""
    raised = [("found", "UInt8")] + version_columns("followup")
    updates = [("u_found", "UInt8")] + [(f"u_{n}", t) for n, t in state_columns("followup_update")]
    return raised + updates


def queue_names() -> list[str]:
    return [n for n, _ in queue_columns()]


def queue_changes_columns() -> list[tuple[str, str]]:
    cols = queue_columns()
    return [("key", "String")] + [(f"old_{n}", t) for n, t in cols] + [(f"new_{n}", t) for n, t in cols]


def queue_changes_insert(db: str, notices: str, out: str) -> str:
    """Follow-ups named by "queue" notices whose combination changes: each read as it stands now
    (its raise in followups_state, its updates in followup_updates_state) against what the queue
    holds. Reading the present makes a notice applied twice, late or out of order harmless."""
    raised = [n for n, _ in version_columns("followup")]
    updates = [n for n, _ in state_columns("followup_update")]
    new = (["f.found AS n_found"] + [f"f.{n} AS n_{n}" for n in raised] + ["u.found AS n_u_found"]
           + [f"u.{n} AS n_u_{n}" for n in updates if n != "first_contact"]
           + [f"if(u.found = 1, u.first_contact, toInt64({NO_TIME})) AS n_u_first_contact"])
    old = [f"o.{n} AS o_{n}" for n in queue_names()]
    same = " AND ".join([f"n_{n} = o_{n}" for n in _IDENTITY]
                        + [f"n_u_{n} = o_u_{n}" for n in _IDENTITY + ["first_contact"]])
    both_absent = "n_found = 0 AND o_found = 0"
    return f"""
INSERT INTO {db}.{out} (key, {', '.join(f'old_{n}' for n in queue_names())}, {', '.join(f'new_{n}' for n in queue_names())})
SELECT key, {', '.join(f'o_{n}' for n in queue_names())}, {', '.join(f'n_{n}' for n in queue_names())}
FROM (
    SELECT q.id AS key, {', '.join(new)}, {', '.join(old)}
    FROM (SELECT DISTINCT entity_id AS id FROM {db}.{notices} WHERE kind = 'queue') AS q
    LEFT JOIN {db}.followups_state AS f ON f.followup_id = q.id
    LEFT JOIN {db}.followup_updates_state AS u ON u.followup_id = q.id
    LEFT JOIN {db}.queue_state AS o ON o.followup_id = q.id
)
WHERE NOT (({same}) OR ({both_absent}))
SETTINGS join_algorithm = 'direct,parallel_hash,hash', join_use_nulls = 0"""


# Which versions of a queue entry concern its customer's list of closed follow-ups.
CLOSED_OLD = "old_found = 1 AND old_u_found = 1 AND old_u_status = 'closed'"
CLOSED_NEW = "new_found = 1 AND new_u_found = 1 AND new_u_status = 'closed'"
# Which versions of a survey answer concern its customer's list of promoter answers.
PROMOTER_OLD = "old_found = 1 AND old_score >= 9"
PROMOTER_NEW = "new_found = 1 AND new_score >= 9"
