"""`touchpulse dlq`: dead letters grouped by reason, and `dlq replay` after a fix.

The logic lives in touchpulse/kafka/dead_letters.py; this module only parses arguments and
prints. Everything taken from a message is escaped before it reaches the terminal, and the
JSON output is ASCII-only for the same reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from touchpulse.commands.args import integer
from touchpulse.settings import Settings


def register(sub) -> None:
    p = sub.add_parser(
        "dlq", help="show dead letters grouped by reason; `dlq replay` re-publishes those now valid",
        description="Read the whole dead-letter topic (nothing is committed or deleted), count each "
                    "source message once even if a crash published it twice, and show the dead letters "
                    "grouped by reason with a sample of their raw bytes. `dlq replay` re-validates them "
                    "with the current rules and re-publishes the ones now valid to their source topic.")
    _show_options(p, top=True)
    p.set_defaults(func=cmd_show)
    actions = p.add_subparsers(dest="dlq_action", metavar="ACTION")

    s = actions.add_parser("show", help="dead letters grouped by reason (the default)",
                           description="Dead letters grouped by reason (variable parts such as the "
                                       "offending value are folded together), with counts, source topics "
                                       "and samples of the raw bytes, escaped for the terminal.")
    _show_options(s, top=False)
    s.set_defaults(func=cmd_show)

    r = actions.add_parser("replay", help="re-validate dead letters and re-publish the ones now valid",
                           description="Re-validate every dead letter with the current rules (after a fix: a "
                                       "relaxed rule, a registry change) and re-publish the ones now valid "
                                       "to their source topic with the original key and a "
                                       "touchpulse.replayed_from header. Safe to repeat: a replayed event "
                                       "keeps its event_id and is counted once. Nothing is deleted from the "
                                       "dead-letter topic.")
    r.add_argument("--dry-run", action="store_true", help="only report what would be re-published")
    r.add_argument("--reason", metavar="TEXT",
                   help="only dead letters whose reason contains TEXT (case-insensitive)")
    r.add_argument("--format", choices=("table", "json"), default=argparse.SUPPRESS,
                   help="output format (default table)")
    r.set_defaults(func=cmd_replay)


def _show_options(p: argparse.ArgumentParser, top: bool) -> None:
    # On `dlq` itself they have defaults; on `dlq show` they are SUPPRESSed so that an option given
    # before the action is not overwritten by the action's defaults.
    p.add_argument("--format", choices=("table", "json"), default="table" if top else argparse.SUPPRESS,
                   help="output format (default table)")
    p.add_argument("--samples", type=integer(0), metavar="N", default=1 if top else argparse.SUPPRESS,
                   help="sample messages shown per reason (default 1)")


def cmd_show(args, settings: Settings) -> int:
    from touchpulse.kafka.dead_letters import group_by_reason, inventory
    inv = inventory(settings)
    samples = getattr(args, "samples", 1)
    groups = group_by_reason(inv.letters, samples=samples)
    if getattr(args, "format", "table") == "json":
        _print_json({
            "topic": inv.topic, "records": inv.records, "dead_letters": len(inv.letters),
            "copies_ignored": inv.copies,
            "groups": [{"reason": g.reason, "count": g.count, "source_topics": dict(g.source_topics.most_common()),
                        "samples": [_sample(d) for d in g.samples]} for g in groups]})
        return 0
    sys.stdout.write(render_show(inv, groups))
    return 0


def render_show(inv, groups) -> str:
    from touchpulse.kafka.dead_letters import show_bytes, terminal_safe as safe
    if not inv.letters:
        return f"{safe(inv.topic)}: no dead letters\n"
    head = f"{safe(inv.topic)}: {len(inv.letters)} dead letters in {len(groups)} groups"
    if inv.copies:
        head += f" ({inv.copies} re-published copies of the same source message counted once)"
    lines = [head, "", f"{'count':>7}  reason"]
    for g in groups:
        lines.append(f"{g.count:>7}  {safe(g.reason, 200)}")
        topics = ", ".join(f"{safe(t)} ({n})" for t, n in g.source_topics.most_common())
        lines.append(f"{'':7}  from  {topics}")
        for d in g.samples:
            key = "" if d.key is None else f" key={show_bytes(d.key, 40)}"
            lines.append(f"{'':7}  e.g.  {safe(d.source)}{key}  {show_bytes(d.value)}")
    return "\n".join(lines) + "\n"


def _sample(d) -> dict:
    from touchpulse.kafka.dead_letters import show_bytes
    return {"source": d.source, "reason": d.reason, "field": d.field,
            "key": None if d.key is None else show_bytes(d.key, 200), "value": show_bytes(d.value, 500),
            "bytes": len(d.value)}


def cmd_replay(args, settings: Settings) -> int:
    from touchpulse.kafka.dead_letters import group_by_reason, replay
    report = replay(settings, reason=args.reason, dry_run=args.dry_run)
    by_topic = Counter(d.source_topic for d in report.replayed)
    invalid = group_by_reason([_with_reason(d, why) for d, why in report.still_invalid], samples=0)
    if getattr(args, "format", "table") == "json":
        _print_json({"dry_run": report.dry_run, "considered": report.considered,
                     "filtered_out": report.filtered_out, "replayed": len(report.replayed),
                     "replayed_by_topic": dict(by_topic.most_common()),
                     "still_invalid": len(report.still_invalid),
                     "still_invalid_groups": [{"reason": g.reason, "count": g.count} for g in invalid]})
        return 0
    sys.stdout.write(render_replay(report, by_topic, invalid, args.reason))
    return 0


def _with_reason(d, reason: str):
    """The dead letter as today's rules see it (the reason may differ from the recorded one)."""
    from dataclasses import replace
    return replace(d, reason=reason)


def render_replay(report, by_topic: Counter, invalid, reason_filter: str | None) -> str:
    from touchpulse.kafka.dead_letters import terminal_safe as safe
    verb = "would re-publish" if report.dry_run else "re-published"
    topics = ", ".join(f"{safe(t)} ({n})" for t, n in by_topic.most_common())
    lines = [f"{'dry run: ' if report.dry_run else ''}{verb} {len(report.replayed)} of {report.considered} "
             f"dead letters to their source topics" + (f": {topics}" if topics else "")]
    lines.append(f"still invalid: {len(report.still_invalid)}")
    for g in invalid:
        lines.append(f"{g.count:>7}  {safe(g.reason, 200)}")
    if reason_filter:
        lines.append(f"{report.filtered_out} dead letters whose reason does not contain "
                     f"'{safe(reason_filter)}' were left alone")
    return "\n".join(lines) + "\n"


def _print_json(data: dict) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=True) + "\n")
