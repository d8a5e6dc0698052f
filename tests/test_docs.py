"""The documentation site: every example it shows is a file the tests run, exactly as shown.

Python examples are test files under ``examples/`` (collected with the rest of the suite) or are run
here; shell, Node and CI examples are run here against a started fake. Pages include them with
pymdownx.snippets (``--8<-- "examples/..."``), so a page cannot drift from what runs. The generated
references (docs/hooks/reference.py) are checked against their sources.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from mock_server.cli import build_parser
from mock_server.model.behaviours import BEHAVIOURS
from mock_server.resources import schema_names
from mock_server.settings import ENV_PREFIX, SPECS, Settings, default_text, flag_for
from tests.shell import ROOT, Shell, clean_env, code_blocks, github, require, source_repo

pytest_plugins = ["pytester"]

DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
INCLUDE = re.compile(r'--8<-- "(?P<path>[^"]+)"')
NOT_RUN = re.compile(r"^<!-- not run: .{10,} -->$")
OUTPUT = {"", "text"}  # what a command prints, or a wire format shown for reading


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def fences(page: Path) -> list[tuple[str, str, str]]:
    """(the line before, language, body) of each fenced block of a page."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, flags=re.M | re.S):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append((before, match[1], match[2]))
    return found


def test_every_example_in_the_docs_is_a_file_that_runs() -> None:
    run_here = set(RUNNERS)
    problems = []
    for page in pages():
        for before, language, body in fences(page):
            if language in OUTPUT or NOT_RUN.match(before):
                continue
            include = INCLUDE.fullmatch(body.strip())
            where = f"{page.relative_to(ROOT)}: a ```{language} block"
            if include is None:
                problems.append(f"{where} that no test runs: put it in examples/ and include it with --8<--")
                continue
            path = include["path"]
            runs = (
                path in run_here
                or path.startswith("fixtures/")
                or re.fullmatch(r"examples/test_\w+\.py", path)
            )
            if not (ROOT / path).is_file() or not runs:
                problems.append(f"{where} includes {path}, which is not an example the tests run")
    assert problems == []


def test_every_example_file_is_shown_somewhere() -> None:
    shown = {
        INCLUDE.fullmatch(body.strip())["path"]  # type: ignore[index]
        for page in pages()
        for _, _, body in fences(page)
        if INCLUDE.fullmatch(body.strip())
    }
    files = {
        p.relative_to(ROOT).as_posix()
        for p in EXAMPLES.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert files - shown == set()


# -- the generated references -------------------------------------------------------------------


def reference_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("reference_hook", DOCS / "hooks" / "reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_reference_says_what_help_says() -> None:
    text = reference_hook().settings_reference()
    for field in dataclasses.fields(Settings):
        name = field.name
        assert f"### `{name}` {{ #{name} }}" in text
        assert SPECS[name].help.replace("|", "\\|") in text
        assert f"`{ENV_PREFIX}{name.upper()}`" in text
        assert f"`{flag_for(name)}`" in text
        assert f"Default `{default_text(name)}`" in text
        if SPECS[name].reads:
            assert " ".join(SPECS[name].reads.split()) in text


def test_the_cli_reference_lists_every_argument_of_every_subcommand() -> None:
    hook = reference_hook()
    text = hook.cli_reference()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in commands.choices.items():
        assert f"## `cobalt-mock {name}`" in text
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert hook.cell(action.help or "") in text, (name, action.dest)
            for flag in action.option_strings:
                assert f"`{flag}" in text


def test_the_behaviour_and_schema_references_list_them_all() -> None:
    hook = reference_hook()
    behaviours, schemas = hook.behaviours_reference(), hook.schemas_reference()
    for name, spec in BEHAVIOURS.items():
        assert f"| `{name}` | {spec.summary}" in behaviours
        assert spec.to_json()["magic_mrn"] in behaviours
    for name in schema_names():
        if not name.endswith(".strict"):
            assert f"| `{name}` |" in schemas


def test_the_hook_fills_each_marker_once() -> None:
    hook = reference_hook()
    page = "# x\n\n<!-- reference: cli -->\n"
    assert hook.on_page_markdown(page, None, None, None) == f"# x\n\n{hook.cli_reference()}\n"
    assert hook.on_page_markdown("# y\n", None, None, None) == "# y\n"


# -- the examples, run ---------------------------------------------------------------------------


def example(path: str) -> str:
    return (ROOT / path).read_text(encoding="utf-8")


def serving(shell: Shell, *flags: str) -> None:
    """A fake on 127.0.0.1:8765 in the shell's own network, started as the docs say, and ready."""
    shell.type(". .venv/bin/activate")
    shell.type(f"cobalt-mock serve --log-level warning {' '.join(flags)} &")
    shell.type("until curl -sf http://127.0.0.1:8765/_mock/health; do sleep 0.1; done; echo; echo READY")
    shell.expect("^READY$")


def run_walkthrough() -> None:
    with Shell(ROOT, clean_env(), network=False) as shell:
        serving(shell, "--delay", "0.5")
        shell.type(example("examples/shell/walkthrough.sh"))
        job_id = shell.expect(r'"job_id":"(job_\w+)"')[1]
        shell.expect(r'"webhook_events":\[\{"event_id":"evt_\w+".*"delivery_status":"failed"')
        assert job_id
        shell.expect(r'^\{"success":true,"appointments":\[\{"id":"appt_')
        shell.expect(r'^\{"success":false,"message":"Date range cannot exceed 7 days\."\}$')
        assert shell.finish() == 0


def run_control() -> None:
    with Shell(ROOT, clean_env(), network=False) as shell:
        serving(shell, "--delay", "0")
        shell.type(example("examples/shell/control.sh"))
        shell.expect(r'^\{"success":true,"reset":"access_token"\}$')
        shell.expect(r'"holding"')
        shell.expect(r'"jobs":\[\{"job_id":"job_\w+","status":"held"')
        shell.expect(r'"job":\{"job_id":"job_\w+","status":"completed"')
        shell.expect(r'"released":\[\]')
        shell.expect(r'"scenario":\{"id":"scn_\d+","behaviour":"ehr_failure"')
        shell.expect(r"Live fetch request accepted")  # the MRN fetch the scenario fails
        shell.expect(r"Live fetch request accepted")  # mock-empty
        shell.expect(r'^\{"success":false,"message":"Too many requests\. Please retry later\."\}$')
        shell.expect(r'"entries":\[')
        assert shell.finish() == 0


def run_ci_service(tmp_path: Path) -> None:
    with Shell(tmp_path, clean_env(), network=False) as shell:  # its log goes to the CI job's directory
        shell.type(f". {ROOT}/.venv/bin/activate")
        shell.type(example("examples/shell/ci-service.sh"))
        shell.expect(r'"status":"ok"')
        shell.expect(r'"success":true,"message":"Live fetch request accepted')
        assert shell.finish() == 0


def run_check_webhook() -> None:
    require("openssl")
    with Shell(ROOT, clean_env()) as shell:
        shell.type(example("examples/shell/check-webhook.sh"))
        shell.expect(r"valid-documented\.json: matches the appointment\.live_fetch_completed webhook schema")
        shell.expect(r"^signature over the raw body: valid$")
        shell.expect(r"^signature over JSON\.stringify\(parsed body\): INVALID$")
        shell.type("echo exit=$?")
        shell.expect("^exit=0$")
        assert shell.finish() == 0


def run_node_client(serve: Callable[..., Any]) -> None:
    node = require("node")
    fake = serve(delay="0.2")
    env = clean_env(COBALT_BASE_URL=f"{fake.url}/v1")
    result = subprocess.run(
        [node, "examples/node/fetch_and_wait.mjs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"job_\w+: \d+ appointments, delivery failed\n", result.stdout), result.stdout


def run_node_receiver(serve: Callable[..., Any]) -> None:
    require("node")
    with Shell(ROOT, clean_env(PORT="0")) as shell:
        shell.type("node examples/node/receiver.mjs")
        url = shell.expect(r"^listening on (http://127\.0\.0\.1:\d+/webhooks/cobalt)$")[1]
        fake = serve(webhook_urls=[url])
        job_id = fake.fetch().json()["job_id"]
        shell.expect(rf"^{job_id}: signature valid, [1-9]\d* appointments$")
        job = fake.state.wait_for_job(job_id, timeout=10)
        assert [a.status_code for a in job.attempts] == [200]


# Each example that is no test file of its own, and what runs it.
RUNNERS: dict[str, Callable[..., None] | str] = {
    "examples/shell/walkthrough.sh": run_walkthrough,
    "examples/shell/control.sh": run_control,
    "examples/shell/ci-service.sh": run_ci_service,
    "examples/shell/check-webhook.sh": run_check_webhook,
    "examples/node/fetch_and_wait.mjs": run_node_client,
    "examples/node/receiver.mjs": run_node_receiver,
    "examples/verify.py": "examples/test_verify.py",
    "examples/clinic_app.py": "examples/test_clinic_app.py",
    "examples/pytest-ini/pyproject.toml": "test_the_ini_example_configures_the_session",
    "examples/contract/plan.json": "test_the_plan_file_example_is_a_plan",
    "examples/ci/github-actions.yml": "test_the_github_actions_workflow_runs_as_written",
    "examples/shell/clone.sh": "tests/test_readme.py",
    "examples/shell/first-webhook.sh": "tests/test_readme.py",
    "examples/shell/stop.sh": "tests/test_readme.py",
    "examples/shell/first-test.sh": "tests/test_readme.py",
    "examples/shell/install-git.sh": "test_the_github_actions_workflow_runs_as_written",
    "examples/shell/install-wheel.sh": "tests/test_packaging.py",
}


@pytest.mark.parametrize("path", [p for p, run in RUNNERS.items() if callable(run)])
def test_the_example_runs_as_shown(path: str, request: pytest.FixtureRequest) -> None:
    run = RUNNERS[path]
    assert callable(run)
    wanted = run.__code__.co_varnames[: run.__code__.co_argcount]
    run(*(request.getfixturevalue(name) for name in wanted))  # fixtures by parameter name


def test_the_ini_example_configures_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml(example("examples/pytest-ini/pyproject.toml"))
    pytester.makepyfile(
        test_ini="""
        def test_settings(cobalt_mock):
            assert cobalt_mock.settings.seed == 7
            assert "http://127.0.0.1:9000/hooks" in cobalt_mock.webhook_urls
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_plan_file_example_is_a_plan() -> None:
    from contract_tests.plan import Plan, PlanOptions

    options = PlanOptions.load({"plan": str(ROOT / "examples" / "contract" / "plan.json")}, {})
    assert (options.budget, options.mrns, len(options.windows)) == (45, ("10023", "10457"), 1)
    assert [declared.expect_failure for declared in options.requests] == [True]
    assert Plan.build(options).steps


@pytest.mark.slow
def test_the_github_actions_workflow_runs_as_written(tmp_path: Path) -> None:
    """The README's install from the repository URL, then the workflow's steps, each as a step runs."""
    workflow = yaml.safe_load(example("examples/ci/github-actions.yml"))
    (job,) = workflow["jobs"].values()
    steps = [step for step in job["steps"] if "run" in step]
    install, *rest = steps
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    git_install = example("examples/shell/install-git.sh")
    assert git_install in code_blocks(readme, "sh")
    assert install["run"] == git_install.splitlines()[-1]  # the same command in both

    project = tmp_path / "project"  # the checked-out repository of a user
    (project / "examples" / "node").mkdir(parents=True)
    (project / "examples" / "node" / "fetch_and_wait.mjs").write_text(
        example("examples/node/fetch_and_wait.mjs")
    )
    env = clean_env(**github(source_repo(tmp_path)))
    with Shell(project, env) as shell:  # what actions/setup-python gives: a Python with pip, then the step
        shell.type(git_install)
        shell.type("echo installed=$?")
        shell.expect("^installed=0$", timeout=600)
        assert shell.finish() == 0
    require("node")
    with Shell(project, clean_env(), network=False) as shell:
        shell.type(". .venv/bin/activate")
        for step in rest:
            if step.get("if") == "failure()":
                continue
            exports = "".join(f"{k}={v} " for k, v in step.get("env", {}).items())
            shell.type(
                f"{exports}bash -e -c {shlex.quote(step['run'])}; status=$?; echo; echo step exit=$status"
            )
            shell.expect("^step exit=0$", timeout=60)
        assert shell.printed(r"^job_\w+: \d+ appointments, delivery failed$")
        (failure_step,) = [s for s in rest if s.get("if") == "failure()"]
        shell.type(failure_step["run"])
        shell.expect(r"cobalt-mock 0\.1\.0 listening on http://127\.0\.0\.1:8765")
        assert shell.finish() == 0
