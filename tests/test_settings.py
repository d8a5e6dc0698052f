"""Settings: one name per setting in every form, parsed strictly."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uvicorn.config import LOG_LEVELS

from mock_server.errors import ConfigError
from mock_server.settings import DEFAULT_WEBHOOK_SECRET, Delay, SettingError, Settings, is_http_url
from mock_server.settings import LOG_LEVELS as SETTINGS_LOG_LEVELS


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.seed, s.webhook_secret) == ("127.0.0.1", 8765, 0, DEFAULT_WEBHOOK_SECRET)
    assert s.delay == Delay("fixed", 2.0, 2.0)
    assert (s.webhook_timeout, s.retry_timeout, s.retry_delay) == (5.0, 2.0, 1.0)
    assert (s.max_jobs, s.admission_timeout) == (10_000, 5.0)
    # Cobalt's documented rules, read the stricter way (cobalt-api.md sections 2 and 8)
    assert (s.max_range_days, s.max_single_provider_days, s.multi_provider_same_day, s.max_providers) == (
        7,
        5,
        True,
        10,
    )
    assert not s.strict_credentials


def test_environment_then_overrides() -> None:
    env = {
        "COBALT_MOCK_DELAY": "1..5",
        "COBALT_MOCK_SEED": "7",
        "COBALT_MOCK_WEBHOOK_URLS": "http://a/x, http://b/y",
        "COBALT_MOCK_CONTROL": "false",
        "COBALT_MOCK_TOKEN_REFERENCES": "tok=user_1,tok2=user_2",
        "UNRELATED": "x",
    }
    s = Settings.from_env(env, seed="9", port=None)
    assert s.delay == Delay("uniform", 1.0, 5.0)
    assert s.seed == 9  # the override wins
    assert s.port == 8765  # None means "not given"
    assert s.webhook_urls == ("http://a/x", "http://b/y")
    assert s.control is False
    assert s.reference_for("tok2") == "user_2"
    assert s.reference_for("other") is None


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBALT_MOCK_PORT", "9999")
    assert Settings.from_env().port == 9999


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("port", "http"),
        ("port", "-1"),
        ("seed", True),
        ("delay", "soon"),
        ("delay", "5..1"),
        ("delay", "-1"),
        ("delay", "nan"),
        ("delay", True),
        ("delay", "lognormal:1"),
        ("control", "maybe"),
        ("token_references", "nope"),
        ("max_jobs", "0"),
        ("webhook_urls", 5),
        ("retry_delay", "inf"),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "../etc/passwd"),
        ("port", "65536"),
        ("port", 70000),
        ("log_level", "loud"),
        ("webhook_urls", "not-a-url"),
        ("webhook_urls", ["http://127.0.0.1:9/ok", "http://host:99999/"]),
        ("webhook_secret", ""),
        ("host", ""),
        ("webhook_api", "v2"),
        ("webhook_api", ""),
    ],
)
def test_bad_values_name_the_setting(name: str, value: object) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings().replace(**{name: value})


def test_unknown_setting() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        Settings().replace(dealy=1)


def test_delay_forms_and_draws() -> None:
    rng = random.Random(1)
    assert Delay.parse(0).draw(rng) == 0.0
    assert Delay.parse(1.5) == Delay("fixed", 1.5, 1.5)
    assert Delay.parse(Delay("fixed", 3, 3)) == Delay("fixed", 3, 3)
    uniform = Delay.parse("1..5")
    assert all(1 <= uniform.draw(rng) <= 5 for _ in range(100))
    lognormal = Delay.parse("lognormal:2:0.5")
    draws = sorted(lognormal.draw(rng) for _ in range(1001))
    assert 1.5 < draws[500] < 2.7  # the median is about 2 s
    assert Delay.parse("lognormal:0:1").draw(rng) == 0.0
    assert [str(Delay.parse(t)) for t in ("2", "1..5", "lognormal:2:0.5")] == ["2", "1..5", "lognormal:2:0.5"]


def test_mapping_and_list_forms() -> None:
    s = Settings().replace(token_references={"b": "2", "a": "1"}, webhook_urls=["http://x"])
    assert s.token_references == (("a", "1"), ("b", "2"))
    assert s.webhook_urls == ("http://x",)
    assert Settings().replace(client_id="").client_id is None
    assert Settings().replace(timezone="America/Phoenix").timezone == "America/Phoenix"


def test_public_view_redacts_secrets() -> None:
    s = Settings().replace(
        client_secret="cs_live_x", access_token="tok", token_references="t=u", delay="1..2"
    )
    public = s.public()
    assert public["client_secret"] == "***"
    assert public["access_token"] == "***"
    assert public["control_token"] is None
    assert public["delay"] == "1..2"
    assert public["token_references"] == {"t": "u"}
    assert public["webhook_urls"] == []
    assert s.strict_credentials


def test_ports_and_log_levels_are_uvicorns() -> None:
    assert Settings().replace(port=65535).port == 65535
    assert set(SETTINGS_LOG_LEVELS) == set(LOG_LEVELS)
    assert Settings().replace(log_level="DEBUG").log_level == "debug"


def test_a_bad_variable_is_named_with_its_value() -> None:
    with pytest.raises(SettingError) as info:
        Settings.from_env({"COBALT_MOCK_DELAY": "a b"})
    assert str(info.value).startswith("COBALT_MOCK_DELAY='a b': delay must be seconds")
    assert (info.value.name, info.value.value) == ("delay", "a b")
    # a flag over a bad variable wins, and the variable is not read
    assert Settings.from_env({"COBALT_MOCK_DELAY": "abc"}, None, delay="1").delay == Delay("fixed", 1, 1)


def test_unknown_variables_are_told_to_warn_with_the_nearest_name() -> None:
    told: list[str] = []
    env = {"COBALT_MOCK_SEDE": "1", "COBALT_MOCK_SEED": "2", "OTHER_SEDE": "3"}
    assert Settings.from_env(env, told.append).seed == 2
    assert told == [
        "COBALT_MOCK_SEDE is not a cobalt-mock setting and is ignored; did you mean COBALT_MOCK_SEED?"
    ]
    assert Settings.from_env(env).seed == 2  # no warn, no report


def test_webhook_urls_are_checked_as_the_api_checks_them() -> None:
    assert Settings().replace(webhook_urls="http://127.0.0.1:9/x").webhook_urls == ("http://127.0.0.1:9/x",)
    for bad in ("ftp://x", "not a url", "http://", "http://host:99999/", "http://host:0/"):
        assert not is_http_url(bad)


@given(st.text())
def test_is_http_url_never_raises(text: str) -> None:
    assert is_http_url(text) in (True, False)


def test_every_setting_has_a_spec_and_every_spec_a_setting() -> None:
    from mock_server.settings import SPECS

    assert list(SPECS) == [f.name for f in dataclasses.fields(Settings)]
    assert all(spec.help and not spec.help.endswith(".") for spec in SPECS.values())


def test_each_rule_reading_names_the_sentence_of_cobalts_docs_it_reads() -> None:
    from mock_server.settings import SPECS

    readings = {name: spec.reads for name, spec in SPECS.items() if spec.reads}
    assert list(readings) == [
        "webhook_api",
        "max_range_days",
        "max_single_provider_days",
        "multi_provider_same_day",
        "max_providers",
    ]
    assert "cannot exceed 7 days" in readings["max_range_days"]
    assert "at most 5 days after start_date" in readings["max_single_provider_days"]


def test_describe_gives_meaning_default_and_environment_twin() -> None:
    from mock_server.settings import describe

    assert describe("port") == (
        "TCP port to listen on, 0-65535; 0 picks a free one (default 8765; env COBALT_MOCK_PORT)"
    )
    assert "(default unset; env COBALT_MOCK_CONTROL_TOKEN)" in describe("control_token")
    assert "(default true; env COBALT_MOCK_CONTROL)" in describe("control")


def test_webhook_api_takes_the_two_documented_versions() -> None:
    assert Settings().webhook_api == "guide"
    assert Settings().replace(webhook_api=" Reference ").webhook_api == "reference"
    assert Settings.from_env({"COBALT_MOCK_WEBHOOK_API": "reference"}).webhook_api == "reference"
    from mock_server.settings import SPECS

    assert "24 hours" in SPECS["webhook_api"].reads
