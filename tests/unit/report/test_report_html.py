"""The page: self-contained, escaped, well-formed, and saying what the numbers say."""

import re
from html.parser import HTMLParser

from touchpulse.report.daily import render_report

VOID = {"meta", "br", "img", "hr", "input", "link"}


class Checker(HTMLParser):
    """Tag balance (SVG children included) and every attribute that could fetch something."""

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.fetches, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "action") and value and not value.startswith("#"):
                self.fetches.append(f"{tag} {name}={value}")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
        else:
            self.stack.pop()


def check(page: str) -> Checker:
    c = Checker()
    c.feed(page)
    c.close()
    return c


def test_page_is_self_contained_and_well_formed(report_data):
    page = render_report(report_data())
    c = check(page)
    assert c.errors == [] and c.stack == []
    assert c.fetches == []
    assert "script" not in c.tags and "link" not in c.tags and "img" not in c.tags
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", page)
    assert c.tags.count("svg") == 9  # every panel drew a chart
    assert 'href="#followups"' in page and 'id="followups"' in page  # the only link stays on the page


def test_user_text_is_escaped(report_data):
    page = render_report(report_data())
    assert "<b>angry</b>" not in page and "Charged twice &amp; &lt;b&gt;angry&lt;/b&gt;" in page
    assert "cus-&lt;1&gt;" in page
    assert "Billing &amp; payments" in page


def test_verdict_comes_first_and_names_the_findings(report_data):
    page = render_report(report_data())
    verdict_at, charts_at = page.index("<h2>Verdict</h2>"), page.index("<main")
    assert verdict_at < charts_at
    worse = page[page.index("Worse beyond noise"):page.index("Better beyond noise")]
    assert "NPS at Billing &amp; payments: \u221260.0" in worse
    assert "Service report for Monday 3 June 2024" in page
    assert "closure event" not in page and "still open past the due time" in page
    assert "3 follow-ups overdue" in page
    assert "Of the 40 follow-ups that fell due in the last 7 days, 75% were closed in time" in page
    assert "waiting longest, oldest due first" in page


def test_same_data_gives_the_same_page(report_data):
    assert render_report(report_data()) == render_report(report_data())
