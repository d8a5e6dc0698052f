"""The README's Python examples run, and do what the text around them says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mock_server.resources import data_dir
from mock_server.settings import Settings
from mock_server.signing import serialize, sign

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(block_containing: str, **names: Any) -> dict[str, Any]:
    (block,) = [b for b in BLOCKS if block_containing in b]
    namespace: dict[str, Any] = dict(names)
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def test_the_signature_recipe_verifies_what_the_fake_sends() -> None:
    body = serialize({"id": "evt_1", "data": {"name": "Zoë"}})
    is_from_cobalt = run("def is_from_cobalt")["is_from_cobalt"]
    assert is_from_cobalt(body, sign("whsec_x", body), "whsec_x")
    assert not is_from_cobalt(body, sign("whsec_y", body), "whsec_x")


def test_the_schema_recipe_runs() -> None:
    payload = json.loads((data_dir("fixtures") / "webhook-mrn" / "valid-documented.json").read_text())
    run('validator("webhook")', payload=payload)
    payload["surprise"] = 1
    with pytest.raises(AssertionError):  # open schema accepts it, the strict one does not
        run('validator("webhook")', payload=payload)


def test_the_settings_table_lists_every_setting() -> None:
    text = README.read_text()
    table = text[text.index("## Settings") :]
    import dataclasses

    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in table, f"README settings table misses {field.name}"


def test_the_mock_client_recipe_runs_against_a_fake(serve: Any) -> None:
    fake = serve()
    run("with MockClient(base_url)", base_url=fake.url)
    assert len(fake.state.scenarios) == 0  # the recipe ends with a reset


def test_the_marker_recipes_pass(pytester: pytest.Pytester) -> None:
    (block,) = [b for b in BLOCKS if "def test_my_app_reports_ehr_outages" in b]
    pytester.makepyfile(test_recipes=block)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_every_behaviour_has_a_readme_example() -> None:
    from mock_server.behaviours import BEHAVIOURS

    text = README.read_text()
    for name in BEHAVIOURS:
        assert f"| `{name}` |" in text, f"README lists no magic value for {name}"
