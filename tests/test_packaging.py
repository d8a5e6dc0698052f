"""A plain (non-editable) install works: the wheel carries schemas, fixtures, py.typed, entry points;
the sdist carries what the tests need; the built wheel serves and plugs into pytest in a fresh venv."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from mock_server import __version__
from tests.shell import ROOT, Shell, clean_env, source_repo


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("cobalt_mock-*.whl")
    return built


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = {p.name for p in (ROOT / "schemas").glob("*.json")}
    assert {f"mock_server/schemas/{n}" for n in schemas} <= names
    assert "mock_server/fixtures/webhook-date-range/valid-documented.json" in names
    assert "mock_server/py.typed" in names
    dashboard = {f"mock_server/api/static/dashboard.{kind}" for kind in ("html", "js", "css")}
    assert dashboard <= names  # the dashboard works from a plain install, offline
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "cobalt-mock = mock_server.cli:main" in text
    assert "cobalt_mock = mock_server.testing.plugin" in text


def test_installed_wheel_reads_its_own_data(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = "import mock_server.resources as r; print(r.data_dir('schemas')); print(len(r.schema_names()))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    folder, count = result.stdout.split()
    assert Path(folder).is_relative_to(target)
    assert int(count) == len(list((ROOT / "schemas").glob("*.json")))
    fixture = target / "mock_server" / "fixtures" / "webhook-mrn" / "valid-documented.json"
    check = subprocess.run(
        [sys.executable, "-m", "mock_server", "check-webhook", str(fixture)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


PLUGIN_TEST = """
import httpx


def test_the_installed_plugin_delivers_a_verified_webhook(cobalt_mock):
    accepted = httpx.post(f"{cobalt_mock.base_url}/appointments/fetch", headers=cobalt_mock.headers,
                          json={"search_by": "mrn", "mrn": "10023"})
    assert accepted.status_code == 202
    assert cobalt_mock.wait_for_webhook(accepted.json()["job_id"]).signature_valid
"""


@pytest.mark.slow
def test_the_built_wheel_installs_serves_and_plugs_into_pytest(tmp_path: Path) -> None:
    """The README's wheel block in a copy of the tree, then the fresh environment it made: the
    version, ``cobalt-mock serve`` to a first 200, and a test of the plugin run by its own pytest."""
    tree = source_repo(tmp_path)
    (tree / ".venv").symlink_to(ROOT / ".venv")  # the clone's environment, as after make serve
    with Shell(tree, clean_env()) as shell:
        shell.type((ROOT / "examples" / "shell" / "install-wheel.sh").read_text(encoding="utf-8"))
        shell.expect(rf"^cobalt-mock {re.escape(__version__)}$", timeout=600)
        assert shell.finish() == 0
    with tarfile.open(tree / "dist" / f"cobalt_mock-{__version__}.tar.gz") as sdist:
        shipped = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "mkdocs.yml", "docs/reference/cobalt-fetch-page.txt"} <= shipped
    env = tmp_path / "wheel-env" / "bin"
    where = subprocess.run(
        [str(env / "python"), "-c", "import mock_server; print(mock_server.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(env.parent), where  # the wheel's copy, not the clone's

    serve = subprocess.Popen(
        [str(env / "cobalt-mock"), "serve", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        assert serve.stdout is not None
        url = serve.stdout.readline().split("listening on ")[1].split()[0]
        assert httpx.get(f"{url}/_mock/health").status_code == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.communicate(timeout=30)
    assert serve.returncode == 0

    subprocess.run([str(env / "pip"), "install", "--quiet", "pytest"], check=True, capture_output=True)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "test_installed.py").write_text(PLUGIN_TEST)
    result = subprocess.run(
        [str(env / "pytest"), "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path / "project",
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
