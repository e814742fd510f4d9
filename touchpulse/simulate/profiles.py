"""The shape of the simulated company: load curves, touchpoint quality, platforms and texts.

Kept apart from the generator so the numbers that make the demo tell a story (a lunch-hour
staffing gap, field engineers and billing hated, the flagship store and the app loved,
some review platforms ignored) can be read and tuned in one place.
"""

from __future__ import annotations

# Relative load per local hour (0..23). Voice queues open 9:00-21:00 and peak late morning.
CALL_CURVE = [0.0] * 9 + [0.75, 1.0, 1.15, 1.05, 0.95, 0.95, 0.9, 0.85, 0.8, 0.7, 0.55, 0.4] + [0.0] * 3
# Agents on shift as a share of what the hour's load needs; at 13:00-14:00 half the team is at lunch.
STAFFING = [1.0] * 24
STAFFING[13] = 0.5
STORE_CURVE = [0.0] * 9 + [0.4, 0.7, 0.9, 1.0, 1.05, 0.9, 0.85, 0.9, 1.0, 1.1, 0.9, 0.6] + [0.0] * 3
DIGITAL_CURVE = [0.12, 0.07, 0.04, 0.03, 0.03, 0.05, 0.12, 0.3, 0.55, 0.75, 0.9, 1.0,
                 1.0, 0.95, 0.9, 0.9, 0.9, 0.95, 1.0, 1.1, 1.15, 1.0, 0.7, 0.35]
# Monday..Sunday.
WEEKDAY_FACTOR = [1.08, 1.0, 0.98, 0.97, 0.95, 0.62, 0.48]

# Daily volumes on an average weekday (before the weekday factor and noise).
INBOUND_CALLS = 1700              # first calls; callers whose problem was not solved call again on top
OUTBOUND_CALLS = 190
ONE_OFF_PURCHASES = 480
REGULAR_CUSTOMERS = 3000          # each buys every ~12 days: ~250 purchases a day
# A share of regulars buy more often with every purchase (interval multiplied by the factor).
SPEEDUP_SHARE = 0.25
SPEEDUP_RANGE = (0.85, 0.93)
CUSTOMERS = 40_000
REVIEWS = 130
STANDALONE_SURVEYS = 330          # transactional surveys not tied to a call or order
RELATIONSHIP_SURVEYS = 90
CALL_SURVEY_SHARE = 0.14          # answered inbound calls followed by a survey
PURCHASE_SURVEY_SHARE = 0.2
REFUND_SHARE = 0.025

# Where inbound calls land, and how much harder/easier the queue is there than the average.
CALL_TOUCHPOINTS = {"call_centre": 0.42, "tech_support": 0.2, "business_line": 0.09, "billing": 0.11,
                    "roaming_desk": 0.05, "field_engineers": 0.07, "delivery": 0.06}
QUEUE_PRESSURE = {"tech_support": 1.2, "business_line": 0.75, "billing": 1.1, "field_engineers": 1.1}
OUTBOUND_TOUCHPOINTS = {"call_centre": 0.6, "business_line": 0.25, "field_engineers": 0.15}

# First-contact resolution and call-backs (contact_centre.py). Most callers are recognised by
# their number (subscribers: a larger base than the shoppers above, so that two calls of one
# customer are rarely a coincidence); the rest call from a withheld or unknown number.
IDENTIFIED_CALLERS = 0.87
SUBSCRIBERS = 400_000
# Chance that an answered call leaves the caller's problem unsolved, before the agent's own factor.
UNRESOLVED = {"tech_support": 0.36, "billing": 0.3, "field_engineers": 0.32, "delivery": 0.26,
              "call_centre": 0.22, "roaming_desk": 0.2, "business_line": 0.14}
DEFAULT_UNRESOLVED = 0.22
# An unsolved caller calls again: (share, (min, max) delay in hours). Some come back after the
# usual 72-hour window, where they no longer count as a repeat.
REPEAT_DELAYS = [(0.5, (0.3, 8)), (0.32, (8, 72)), (0.18, (72, 200))]
REPEAT_SAME_TOUCHPOINT = 0.8
# Agents on a touchpoint's roster: one per this many calls a day, plus a few.
CALLS_PER_AGENT = 55
# (share of agents, handle-time factor range, unresolved factor range): steady hands, rushers who
# end calls fast and leave problems open, and new starters who are slow and still learning.
AGENT_KINDS = [(0.7, (0.85, 1.15), (0.7, 1.2)), (0.15, (0.6, 0.75), (1.8, 2.6)), (0.15, (1.3, 1.6), (1.3, 1.7))]
# Missed callers are called back: most within minutes, some never. A call-back that falls in the
# lunch hour usually waits until the team is back, and then behind the lunch-time backlog.
CALLBACK_SHARE = 0.92
CALLBACK_MEDIAN_MINUTES = 16
LUNCH_BACKLOG_MINUTES = 60
LUNCH_HOURS = tuple(h for h in range(24) if STAFFING[h] < 1)  # the staffing gap above
LUNCH_DEFERRAL = 0.9
CALLBACK_ANSWERED = 0.72
STORE_TOUCHPOINTS = {"retail_store": 0.72, "flagship_store": 0.28}
DIGITAL_TOUCHPOINTS = {"website": 0.45, "mobile_app": 0.47, "delivery": 0.08}
# Transactional surveys sent after other contacts (chat sessions, engineer visits, bills...).
SURVEY_TOUCHPOINTS = {"chat": 0.22, "field_engineers": 0.2, "billing": 0.18, "social_media": 0.1,
                      "delivery": 0.1, "website": 0.1, "mobile_app": 0.1}
RELATIONSHIP_PANELS = {"website": 0.5, "mobile_app": 0.3, "call_centre": 0.2}
BRANDS = {"own": 0.5, "rival_mobile": 0.25, "rival_fixed": 0.25}

# (promoter share, detractor share) of NPS answers; NPS = 100 * (p - d).
NPS_MIX = {
    "flagship_store": (0.72, 0.07), "mobile_app": (0.64, 0.1), "business_line": (0.55, 0.15),
    "website": (0.5, 0.17), "chat": (0.48, 0.2), "retail_store": (0.47, 0.2), "roaming_desk": (0.45, 0.22),
    "call_centre": (0.42, 0.24), "social_media": (0.4, 0.25), "delivery": (0.38, 0.27),
    "tech_support": (0.33, 0.33), "billing": (0.2, 0.5), "field_engineers": (0.18, 0.52),
}
DEFAULT_NPS_MIX = (0.4, 0.25)
BRAND_NPS_MIX = {"own": (0.42, 0.24), "rival_mobile": (0.47, 0.2), "rival_fixed": (0.28, 0.4)}

# Review platforms per touchpoint, and how each platform's reviews get answered:
# (share answered, (min, max) reply delay in hours).
REVIEW_TOUCHPOINTS = {"retail_store": 0.24, "flagship_store": 0.1, "mobile_app": 0.2, "website": 0.08,
                      "call_centre": 0.1, "field_engineers": 0.1, "delivery": 0.08, "social_media": 0.1}
REVIEW_PLATFORMS = {
    "retail_store": ["google_maps", "yandex_maps"], "flagship_store": ["google_maps", "yandex_maps"],
    "mobile_app": ["app_store", "google_play"], "website": ["trustpilot"], "call_centre": ["trustpilot"],
    "field_engineers": ["trustpilot", "yandex_maps"], "delivery": ["trustpilot", "yandex_maps"],
    "social_media": ["vk", "telegram"],
}
REPLY_POLICY = {
    "google_maps": (0.8, (2, 60)), "yandex_maps": (0.55, (24, 160)), "app_store": (0.35, (48, 240)),
    "google_play": (0.6, (6, 96)), "trustpilot": (0.25, (72, 300)), "vk": (0.95, (0.2, 3)),
    "telegram": (0.9, (0.3, 5)),
}
# The flagship store's own team answers its map reviews quickly.
FAST_REPLIERS = {"flagship_store": (0.97, (0.5, 10))}

REGIONS = ("north", "south", "east", "west", "central")
CURRENCY = "EUR"

COMMENTS_LOW = {
    "field_engineers": ["The engineer came two days late", "Nobody showed up in the time slot",
                        "Installation took three visits", "Had to take a day off for nothing"],
    "billing": ["I was charged twice", "The bill is impossible to understand",
                "Hidden fees again this month", "Refund still not received"],
    "tech_support": ["Waited forever on the line", "They just told me to restart the router",
                     "Problem still not fixed"],
    "call_centre": ["Too long on hold", "I was transferred three times", "The agent hung up on me"],
}
COMMENTS_GENERIC_LOW = ["Too expensive", "Slow service", "Nobody called me back", "Poor coverage at home",
                        "Rude staff", "Had to explain my problem again and again"]
COMMENTS_MID = ["Fine, but could be faster", "OK overall", "Prices could be lower", "Mostly good"]
COMMENTS_HIGH = ["Great service, thank you", "Quick and friendly", "Everything worked first time",
                 "Very helpful staff"]
REVIEW_TEXTS = {
    1: ["Terrible. Never again.", "Worst experience ever, nobody cares.", "Waste of time."],
    2: ["Disappointed, had to come back twice.", "Slow and unhelpful."],
    3: ["Average. Nothing special.", "OK but the queue was long."],
    4: ["Good service, minor issues.", "Friendly staff, a bit slow."],
    5: ["Excellent!", "Fast and friendly, thanks!", "Best store in town."],
}
