"""The touchpoint registry: the bundled file, fallback targets for unknown slugs, and errors that say where."""

from __future__ import annotations

import tomllib

import pytest

from touchpulse.core.touchpoints import (CONTRACT_DEFAULTS, Registry, RegistryError, Targets, default_registry_path,
                                         load_registry, parse_registry)

THREE_TARGETS = ("sla_answer_seconds", "short_abandon_seconds", "review_reply_hours")


def test_bundled_registry_has_at_least_12_touchpoints_each_stating_the_three_targets():
    raw = tomllib.loads(default_registry_path().read_text(encoding="utf-8"))
    assert len(raw["touchpoints"]) >= 12
    for slug, entry in raw["touchpoints"].items():
        missing = [t for t in THREE_TARGETS if t not in entry]
        assert not missing, f"{slug} lacks {missing}"
        assert entry.get("name"), slug
    reg = load_registry()
    assert reg.slugs == sorted(raw["touchpoints"])
    for slug, entry in raw["touchpoints"].items():
        t = reg.targets(slug)
        for name in THREE_TARGETS:
            assert getattr(t, name) == float(entry[name])
        assert t.followup_hours == float(entry.get("followup_hours", raw["defaults"]["followup_hours"]))


def test_unknown_touchpoint_gets_contract_defaults():
    reg = load_registry()
    t = reg.targets("never_heard_of_it")
    assert (t.sla_answer_seconds, t.short_abandon_seconds, t.review_reply_hours) == (20, 5, 24)
    assert t == reg.defaults == Targets(**CONTRACT_DEFAULTS)


def test_empty_registry_uses_contract_defaults():
    reg = parse_registry({})
    assert reg.touchpoints == {} and reg.slugs == []
    assert reg.targets("anything") == Targets(20.0, 5.0, 24.0, 48.0)


def test_touchpoint_inherits_the_files_defaults_not_the_contracts(tmp_path):
    path = tmp_path / "tp.toml"
    path.write_text('[defaults]\nsla_answer_seconds = 10\nfollowup_hours = 12\n'
                    '[touchpoints.kiosk]\nname = "Kiosk"\nchannel = "store"\nshort_abandon_seconds = 2.5\n')
    reg = load_registry(path)
    assert reg.defaults == Targets(10.0, 5.0, 24.0, 12.0)
    assert reg.targets("kiosk") == Targets(10.0, 2.5, 24.0, 12.0)
    assert reg.targets("other") == reg.defaults
    tp = reg.touchpoints["kiosk"]
    assert (tp.slug, tp.name, tp.channel) == ("kiosk", "Kiosk", "store")


def test_name_defaults_to_slug(tmp_path):
    reg = parse_registry({"touchpoints": {"kiosk": {}}})
    assert reg.touchpoints["kiosk"].name == "kiosk"
    assert isinstance(reg, Registry)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(RegistryError, match="nope.toml.*does not exist"):
        load_registry(path)


@pytest.mark.parametrize("content", ["[touchpoints.x\n", "a = = 1\n", b"\xff\xfe[x]\n"])
def test_invalid_toml_names_the_path(tmp_path, content):
    path = tmp_path / "bad.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(RegistryError, match=r"bad\.toml is not valid TOML"):
        load_registry(path)


@pytest.mark.parametrize("content,where", [
    ('[touchpoints."Call-Centre"]\nname = "x"\n', r"\[touchpoints\.Call-Centre\].*slug"),
    ('[touchpoints.a]\nsla_answer_seconds = -1\n', r"\[touchpoints\.a\].*sla_answer_seconds"),
    ('[touchpoints.a]\nreview_reply_hours = "24"\n', r"\[touchpoints\.a\].*review_reply_hours"),
    ('[touchpoints.a]\nfollowup_hours = true\n', r"\[touchpoints\.a\].*followup_hours"),
    ('[touchpoints.a]\nfollowup_hours = nan\n', r"\[touchpoints\.a\].*followup_hours"),
    ('[touchpoints.a]\nfollowup_hours = inf\n', r"\[touchpoints\.a\].*followup_hours"),
    ('[touchpoints.a]\nfollowup_hours = 1e12\n', r"\[touchpoints\.a\].*followup_hours"),
    ('[defaults]\nshort_abandon_seconds = -0.5\n', r"\[defaults\].*short_abandon_seconds"),
    ('[touchpoints]\na = 5\n', r"\[touchpoints\.a\].*table"),
    ('touchpoints = [1, 2]\n', r"\[touchpoints\].*table"),
    ('defaults = 3\n', r"\[defaults\].*table"),
    ('[touchpoints.a]\nrepeat_window_hours = -2\n', r"\[touchpoints\.a\].*repeat_window_hours"),
    ('[touchpoints.a]\ncallback_minutes = "60"\n', r"\[touchpoints\.a\].*callback_minutes"),
    ('[touchpoints.a]\nservice_level_base = "offered_less_abandoned"\n',
     r"\[touchpoints\.a\].*service_level_base must be one of offered_less_short, offered, answered"),
    ('[defaults]\nservice_level_base = 1\n', r"\[defaults\].*service_level_base"),
])
def test_invalid_registry_raises_registry_error_naming_the_place(tmp_path, content, where):
    path = tmp_path / "reg.toml"
    path.write_text(content)
    with pytest.raises(RegistryError, match=where) as info:
        load_registry(path)
    assert str(path) in str(info.value)


def test_contact_centre_targets_default_as_the_contract_says_and_inherit_like_the_others(tmp_path):
    assert parse_registry({}).targets("x") == Targets(20.0, 5.0, 24.0, 48.0, repeat_window_hours=72.0,
                                                       callback_minutes=60.0, service_level_base="offered_less_short")
    path = tmp_path / "tp.toml"
    path.write_text('[defaults]\ncallback_minutes = 30\nservice_level_base = "offered"\n'
                    '[touchpoints.desk]\nrepeat_window_hours = 24\nservice_level_base = "answered"\n')
    reg = load_registry(path)
    desk, other = reg.targets("desk"), reg.targets("other")
    assert (desk.repeat_window_hours, desk.callback_minutes, desk.service_level_base) == (24.0, 30.0, "answered")
    assert (other.repeat_window_hours, other.callback_minutes, other.service_level_base) == (72.0, 30.0, "offered")
