"""The README: short, importing only the public API, and every command in it run as written.

Each block of the README is one of the example files (``examples/``) that the docs include and the
tests run, or is run here. ``test_a_new_user_walks_the_readme`` is the whole path a new user takes,
on a fresh clone: clone, ``make serve``, a fetch whose webhook arrives verified, the CI recipe, and
the first pytest test.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.shell import ROOT, Shell, clean_env, code_blocks, github, source_repo

pytest_plugins = ["pytester"]

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLES = ROOT / "examples"

# Each command block of the README, by the example file it is (the docs include the same file).
SAME_AS = {
    "clone": "shell/clone.sh",
    "install from the repository": "shell/install-git.sh",
    "install from a wheel": "shell/install-wheel.sh",
    "the command line": "shell/first-webhook.sh",
    "stop": "shell/stop.sh",
    "a CI service": "shell/ci-service.sh",
    "a pytest test": "test_first.py",
    "run the pytest test": "shell/first-test.sh",
}
SETUP = "make serve     # then runs the fake on http://127.0.0.1:8765 (Ctrl-C stops it)\nmake test"


def block(name: str) -> str:
    return (EXAMPLES / SAME_AS[name]).read_text(encoding="utf-8")


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= 150


def test_every_block_is_an_example_the_tests_run() -> None:
    examples = {block(name) for name in SAME_AS}
    blocks = code_blocks(README, "sh") + code_blocks(README, "python")
    setup = [b for b in blocks if b.startswith(SETUP)]
    assert len(setup) == 1
    assert sorted(b for b in blocks if b not in setup) == sorted(examples)
    # Nothing else is a command: the other fences are output.
    assert set(re.findall(r"^```(\w+)$", README, flags=re.M)) == {"sh", "python", "text"}


def test_make_test_is_what_ci_runs() -> None:
    (setup,) = [b for b in code_blocks(README, "sh") if b.startswith(SETUP)]
    assert [line.split("#")[0].strip() for line in setup.splitlines()] == ["make serve", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line and not line.startswith("#")][-1] == "make test"


def test_the_readme_imports_only_the_public_api() -> None:
    for code in code_blocks(README, "python"):
        imports = re.findall(r"^\s*(?:from|import) (mock_server[\w.]*)", code, flags=re.M)
        assert set(imports) <= {"mock_server"}, imports


def test_the_pytest_example_passes(pytester: pytest.Pytester) -> None:
    # Another name than test_first.py: examples/test_first.py is imported under that one already.
    pytester.makepyfile(test_readme_first=block("a pytest test"))
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.slow
def test_a_new_user_walks_the_readme(tmp_path: Path) -> None:
    """From ``git clone`` to a verified webhook and a passing test, each command as the README has it."""
    repo = source_repo(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    clone = home / "cobalt-mock"
    # The one change to the environment: port 0, so make serve's fake cannot meet another process
    # of this machine on 8765; the README's later commands run where 8765 is free (no network).
    with Shell(home, clean_env(**github(repo), COBALT_MOCK_PORT="0")) as shell:
        shell.type(block("clone"))
        url = shell.expect(r"listening on (http://127\.0\.0\.1:\d+)", timeout=600)[1]
        assert httpx.get(f"{url}/_mock/health").status_code == 200
        shell.interrupt()  # Ctrl-C: make, and the fake under it
    with Shell(clone, clean_env(), network=False) as shell:
        shell.type(block("the command line"))
        shell.expect(r'"status":\s*"ok"')
        job_id = shell.expect(r'"job_id":"(job_\w+)"')[1]
        shell.expect(
            rf"POST /webhooks/cobalt job_id='{job_id}' id='evt_\w+' attempt=1; answered 200; signature valid$"
        )
        assert shell.printed(r"^cobalt-mock receiver listening on http://127\.0\.0\.1:9000 ")
        shell.type(block("stop"))
        assert shell.finish() == 0
    with Shell(clone, clean_env(), network=False) as shell:
        shell.type(". .venv/bin/activate")  # what a CI job has done by then: cobalt-mock installed
        shell.type(block("a CI service"))
        shell.expect(r'"success":true,"message":"Live fetch request accepted')
    (clone / "test_first.py").write_text(block("a pytest test"))
    with Shell(clone, clean_env()) as shell:
        shell.type(block("run the pytest test"))
        shell.expect(r"1 passed")
        assert shell.finish() == 0
