"""The README's Python examples run, and do what the text around them says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.delivery.webhook import serialize, sign
from mock_server.resources import data_dir
from mock_server.settings import Settings

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
    assert len(fake.state.scenarios()) == 0  # the recipe ends with a reset


def test_the_marker_recipes_pass(pytester: pytest.Pytester) -> None:
    (block,) = [b for b in BLOCKS if "def test_my_app_reports_ehr_outages" in b]
    pytester.makepyfile(test_recipes=block)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_every_behaviour_has_a_readme_example() -> None:
    from mock_server.model.behaviours import BEHAVIOURS

    text = README.read_text()
    for name in BEHAVIOURS:
        assert f"| `{name}` |" in text, f"README lists no magic value for {name}"


def curl_commands() -> list[str]:
    """Every ``curl`` command in the README's shell blocks, continuation lines joined."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    joined = "\n".join(blocks).replace("\\\n", " ")
    return [line.split(" #")[0].strip() for line in joined.splitlines() if line.startswith("curl ")]


def run_curl(command: str, base_url: str, job_id: str = "") -> httpx.Response:
    """Run a README curl command with httpx: -H headers, -d body (POST), the URL; -s is ignored."""
    import shlex

    args = shlex.split(command.replace("http://127.0.0.1:8765", base_url).replace("job_4vQ...", job_id))[1:]
    headers: dict[str, str] = {}
    data: str | None = None
    url = ""
    while args:
        arg = args.pop(0)
        if arg == "-H":
            name, _, value = args.pop(0).partition(":")
            headers[name.strip()] = value.strip()
        elif arg == "-d":
            data = args.pop(0)
        elif not arg.startswith("-"):
            url = arg
    return httpx.request(
        "POST" if data is not None else "GET", url, headers=headers, content=data, timeout=10
    )


def test_the_curl_walk_through_works_as_written(serve: Any) -> None:
    fake = serve()
    fetch, events, cached, scenario = curl_commands()
    accepted = run_curl(fetch, fake.url)
    assert accepted.status_code == 202, accepted.text
    job_id = accepted.json()["job_id"]
    fake.state.wait_for_job(job_id, timeout=10)
    polled = run_curl(events, fake.url, job_id).json()["webhook_events"]
    assert [row["job_id"] for row in polled] == [job_id]
    found = run_curl(cached, fake.url)
    assert found.status_code == 200
    matches = found.json()["appointments"]
    assert matches  # seed 0's clinic-a has Smiths, so the example shows something
    assert all("smi" in a["patient_name"].casefold() for a in matches)
    failing = run_curl(scenario, fake.url)
    assert failing.status_code == 202
    job = fake.state.wait_for_job(failing.json()["job_id"], timeout=10)
    assert job.payload["data"]["success"] is False
