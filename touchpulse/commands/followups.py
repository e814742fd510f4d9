"""`touchpulse followups`: the team's call-back queue, and `followups update` for teams without a
CRM to say what they did (a `followup_update` event, docs/events.md).

The list reads the view `followup_queue` (docs/metrics.md), oldest due first, so the person at
the top is the one who has waited longest. An update is validated by the same rules as every
producer's (touchpulse/core/events.py) before it is sent, and every mistake (an unknown status,
a resolution without `closed`, an id that names no follow-up) is one line and exit 2: the tool
is for people calling customers back, not for reading tracebacks.
"""

from __future__ import annotations

import sys
import uuid
from datetime import datetime, timezone

from touchpulse.errors import UserError
from touchpulse.settings import Settings

STATUSES = ("assigned", "contacted", "closed")
RESOLUTIONS = ("resolved", "unresolved", "unreachable")
# What the table shows of a follow-up (csv and json show every column of the view).
TABLE_COLUMNS = ("due_at", "followup_id", "touchpoint", "customer_id", "score", "state", "owner", "overdue",
                 "comment")
COMMENT_WIDTH = 60


def register(sub) -> None:
    p = sub.add_parser("followups", help="the call-back queue of follow-ups, oldest due first; "
                                         "`followups update ID --status ...` records what was done",
                       description="List follow-ups (survey answers below the threshold) with their state, "
                                   "owner, due time and the customer's comment, oldest due first. "
                                   "`touchpulse followups update ID --status assigned|contacted|closed` sends "
                                   "a followup_update event for one of them.")
    # (mistakes are checked by the commands, not argparse: one line, no usage text)
    p.add_argument("--open", action="store_true", help="only follow-ups not closed")
    p.add_argument("--overdue", action="store_true", help="only open follow-ups past their due time")
    p.add_argument("--touchpoint", help="only this touchpoint")
    p.add_argument("--owner", help="only follow-ups this owner handles")
    p.add_argument("--format", default="table", help="table (default), csv or json")
    p.add_argument("--limit", default=None, help="at most this many rows")
    p.set_defaults(func=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    u = actions.add_parser("update", help="record what was done about a follow-up",
                           description="Send a followup_update event (docs/events.md) for follow-up ID.")
    u.add_argument("followup_id", metavar="ID", help="the follow-up's id (first column of `touchpulse followups`)")
    u.add_argument("--status", help="assigned, contacted or closed")
    u.add_argument("--resolution", help="with --status closed: resolved (default), unresolved or unreachable")
    u.add_argument("--owner", help="who handles it")
    u.add_argument("--note", help="what was agreed with the customer")
    u.set_defaults(func=cmd_update)


def cmd_list(args, settings: Settings) -> int:
    from touchpulse.clickhouse.queries import format_rows, query_view
    if args.open and args.overdue:
        raise UserError("give --open or --overdue, not both (overdue follow-ups are open)")
    if args.format not in ("table", "csv", "json"):
        raise UserError(f"--format {args.format!r}: choose table, csv or json")
    limit = None
    if args.limit is not None:
        if not args.limit.isdigit() or int(args.limit) < 1:
            raise UserError(f"--limit {args.limit!r}: give a whole number of at least 1")
        limit = int(args.limit)
    where, params = [], {}
    if args.open:
        where.append("state != 'closed'")
    if args.overdue:
        where.append("overdue = 1")
    if args.owner is not None:
        where.append("owner = {owner:String}")
        params["owner"] = args.owner
    columns, rows = query_view(settings, "followup_queue", touchpoint=args.touchpoint, limit=limit,
                               where=where, params=params)
    if args.format == "table":
        picked = [columns.index(c) for c in TABLE_COLUMNS]
        rows = [tuple(_short(row[i]) for i in picked) for row in rows]
        columns = list(TABLE_COLUMNS)
    sys.stdout.write(format_rows(columns, rows, args.format))
    return 0


def _short(value):
    if isinstance(value, str) and len(value) > COMMENT_WIDTH:
        return value[:COMMENT_WIDTH - 1] + "…"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value


def build_update(followup_id: str, touchpoint: str, status: str | None, resolution: str | None = None,
                 owner: str | None = None, note: str | None = None, now: datetime | None = None) -> dict:
    """The followup_update event for these arguments, or UserError saying what is wrong."""
    from touchpulse.core.events import Rejected, validate_document
    from touchpulse.core.timestamps import format_timestamp
    if status is None:
        raise UserError("followups update: give --status assigned, contacted or closed")
    if status not in STATUSES:
        raise UserError(f"--status {status!r}: choose assigned, contacted or closed")
    if resolution is not None:
        if status != "closed":
            raise UserError(f"--resolution is only given with --status closed (not {status})")
        if resolution not in RESOLUTIONS:
            raise UserError(f"--resolution {resolution!r}: choose resolved, unresolved or unreachable")
    doc = {"event_id": str(uuid.uuid4()), "type": "followup_update", "version": 1,
           "occurred_at": format_timestamp(now or datetime.now(timezone.utc)), "touchpoint": touchpoint,
           "followup_id": followup_id, "status": status, "source": "touchpulse-cli"}
    for name, value in (("resolution", resolution), ("owner", owner), ("note", note)):
        if value is not None:
            doc[name] = value
    try:
        validate_document(doc, "followup_update")
    except Rejected as exc:  # an owner too long, a note over 10,000 characters...
        raise UserError(f"followups update: {exc}") from None
    return doc


def cmd_update(args, settings: Settings) -> int:
    import logging

    import orjson

    from touchpulse.kafka.emit import producer
    from touchpulse.kafka.topics import Topics
    build_update(args.followup_id, "unknown", args.status, args.resolution, args.owner, args.note)  # mistakes first
    touchpoint = _touchpoint_of(settings, args.followup_id)
    doc = build_update(args.followup_id, touchpoint, args.status, args.resolution, args.owner, args.note)
    p = producer(settings, "touchpulse-followups")
    p.send(Topics(settings.topic_prefix).for_type("followup_update"), orjson.dumps(doc), args.followup_id.encode())
    p.flush()
    logging.getLogger("touchpulse").info("follow-up %s: %s sent (event %s)", args.followup_id, args.status,
                                         doc["event_id"])
    return 0


def _touchpoint_of(settings: Settings, followup_id: str) -> str:
    """The follow-up's touchpoint (the envelope of its updates carries it): a key lookup in the
    state of raised follow-ups, so an id that names none is refused before anything is sent."""
    from touchpulse.clickhouse.client import connect
    from touchpulse.clickhouse.schema import q
    from touchpulse.streams.runner import require_schema
    if not followup_id or len(followup_id) > 256:
        raise UserError("followups update: the follow-up id must be 1..256 characters")
    require_schema(settings)
    client = connect(settings)
    try:
        rows = client.query(f"SELECT touchpoint FROM {q(settings.database)}.followups_state "
                            "WHERE followup_id = {id:String} AND found = 1", parameters={"id": followup_id}).result_rows
    finally:
        client.close()
    if not rows:
        raise UserError(f"no follow-up {followup_id!r} (see `touchpulse followups`)")
    return rows[0][0]
