"""The SVG chart builder: valid SVG, geometry that matches the numbers, nothing unescaped."""

import xml.etree.ElementTree as ET

import pytest

from touchpulse.report import svg
from touchpulse.report.svg import Bar, Line

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def bars_of(root):
    return [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "bar"]


def test_hbar_one_bar_per_item_with_lengths_proportional_to_values():
    root = parse(svg.hbar_chart([Bar("a", 50.0), Bar("b", 25.0), Bar("c", 100.0)], label="t", lo=0, hi=100))
    widths = [float(r.get("width")) for r in bars_of(root)]
    assert len(widths) == 3
    assert widths[0] == pytest.approx(2 * widths[1], rel=0.02)
    assert widths[2] == pytest.approx(2 * widths[0], rel=0.02)


def test_negative_values_grow_left_from_zero():
    root = parse(svg.hbar_chart([Bar("up", 40.0), Bar("down", -40.0)], label="t", lo=-100, hi=100))
    up, down = bars_of(root)
    assert float(down.get("x")) + float(down.get("width")) == pytest.approx(float(up.get("x")), abs=0.2)
    assert float(up.get("width")) == pytest.approx(float(down.get("width")), abs=0.2)


def test_error_bars_are_symmetric_around_the_bar_end():
    root = parse(svg.hbar_chart([Bar("a", 40.0, err=10.0)], label="t", lo=0, hi=100))
    (bar,) = bars_of(root)
    end = float(bar.get("x")) + float(bar.get("width"))
    group = next(g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "err")
    whisker = group.find("s:line", NS)
    left, right = float(whisker.get("x1")), float(whisker.get("x2"))
    assert end - left == pytest.approx(right - end, abs=0.2)
    assert right - left == pytest.approx(2 * 10 / 40 * float(bar.get("width")), rel=0.02)


def test_markers_sit_at_their_value():
    root = parse(svg.hbar_chart([Bar("a", 50.0, marker=80.0)], label="t", lo=0, hi=100))
    (bar,) = bars_of(root)
    marker = next(r for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("class") == "marker")
    x0, w = float(bar.get("x")), float(bar.get("width"))
    assert float(marker.get("x")) + 1.5 == pytest.approx(x0 + w * 80 / 50, abs=0.3)


def test_labels_are_escaped_and_long_ones_shortened_with_the_full_text_kept():
    evil = "<script>alert('x')</script> & a very long touchpoint name that does not fit"
    text = svg.hbar_chart([Bar(evil, 1.0, note="n < 5")], label="a & b", lo=0, hi=10)
    root = parse(text)  # would fail on an unescaped '<' or '&'
    assert "<script>" not in text
    label = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.find("s:title", NS) is not None)
    assert label.text.endswith("\u2026") and label.find("s:title", NS).text == evil


def test_empty_data_gives_a_placeholder_not_an_error():
    for text in (svg.hbar_chart([], label="x"), svg.hbar_chart([Bar("a", None)], label="x"),
                 svg.column_chart(["a"], [None], label="x"), svg.line_chart(["a"], [Line("l", [None])], label="x")):
        root = parse(text)
        assert any(r.get("class") == "empty" for r in root.iter("{http://www.w3.org/2000/svg}rect"))


def test_columns_heights_and_highlight():
    root = parse(svg.column_chart(["00", "01", "02"], [10, 20, None], highlight=[1], label="t"))
    bars = bars_of(root)
    assert len(bars) == 2  # the missing value draws no bar
    assert float(bars[1].get("height")) == pytest.approx(2 * float(bars[0].get("height")), rel=0.02)
    assert bars[1].get("fill") == svg.HIGHLIGHT and bars[0].get("fill") == svg.BAR


def test_line_breaks_where_values_are_missing_and_band_has_one_polygon_per_run():
    lower = [1, 2, None, 4, 5]
    upper = [3, 4, None, 6, 7]
    root = parse(svg.line_chart(list("abcde"), [Line("l", [2, 3, None, 5, 6])], label="t", band=(lower, upper)))
    path = next(p for p in root.iter("{http://www.w3.org/2000/svg}path") if p.get("class") == "line")
    assert path.get("d").count("M") == 2
    assert len([p for p in root.iter("{http://www.w3.org/2000/svg}polygon") if p.get("class") == "band"]) == 2


def test_x_labels_can_count_from_the_last_day():
    labels = [f"d{i}" for i in range(10)]
    texts = lambda root: [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]  # noqa: E731
    from_end = texts(parse(svg.column_chart(labels, list(range(10)), label="t", label_every=3, label_from_end=True)))
    assert "d9" in from_end and "d6" in from_end and "d8" not in from_end
    from_start = texts(parse(svg.column_chart(labels, list(range(10)), label="t", label_every=3)))
    assert "d0" in from_start and "d9" in from_start and "d1" not in from_start


@pytest.mark.parametrize("lo,hi", [(0, 1), (-100, 100), (0, 873), (12.5, 13.1)])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    ticks = svg.nice_ticks(lo, hi)
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1
    step = steps.pop()
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    assert round(mantissa, 6) in (1, 2, 2.5, 5)
    assert ticks[0] >= lo - 1e-9 and ticks[-1] <= hi + 1e-9 and 3 <= len(ticks) <= 11
