"""A plain (non-editable) install works: the wheel carries schemas, fixtures, py.typed, entry points."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
