"""Running the README's and the docs' shell commands exactly as written.

``Shell`` is one bash reading commands from a pipe, as a terminal would give them, with its output
read line by line as it comes (``expect`` waits on a condition, never a sleep). With
``network=False`` it runs in a network namespace of its own, whose loopback is empty: the fixed
ports the commands name (8765, 9000) are free there whatever else runs on this machine, and
nothing in it can reach another host. The whole process group is stopped at the end, so
background jobs (``cobalt-mock serve &``) never outlive the test.

``source_repo`` is this working tree as a git repository of its own, and ``github`` makes git
fetch the project's repository URL from it, so ``git clone`` and ``pip install git+https://...``
run as written without leaving the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/cobalt-mock/cobalt-mock"


def require(tool: str) -> str:
    """The path of ``tool``; without it a test fails under CI (CI=true) and is skipped elsewhere."""
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{tool} is needed by this test and is not installed", pytrace=False)
        pytest.skip(f"{tool} is not installed")
    return found


def code_blocks(text: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` in a Markdown text, as written."""
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def source_repo(into: Path) -> Path:
    """This working tree's files (tracked or not, but not ignored) as a new one-commit git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    repo = into / "source"
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (repo / source.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / source.relative_to(ROOT))
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "the tree under test"], cwd=repo, check=True)
    return repo


def github(repo: Path) -> dict[str, str]:
    """Environment under which git (pip's too) fetches the project's URL from ``repo``."""
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{repo.as_uri()}.insteadOf",
        "GIT_CONFIG_VALUE_0": REPOSITORY,
    }


def clean_env(**extra: str) -> dict[str, str]:
    """This environment as a new user's terminal has it: without the variables that would point a
    new shell at this test's venv, change the fake's settings, pass this run's make flags on to a
    nested make, or have coverage measure another tree's copy of the package; ``extra`` on top."""
    ours = ("COBALT_MOCK_", "VIRTUAL_ENV", "PYTEST_", "PYTHON", "COVERAGE_", "COV_CORE_", "MAKE", "MFLAGS")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours) and k != "CI"}
    bins = [p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT / ".venv"))]
    env["PATH"] = os.pathsep.join(bins)
    return {**env, **extra}


class Shell:
    def __init__(self, cwd: Path, env: Mapping[str, str], *, network: bool = True) -> None:
        start = "exec bash -s"
        command = ["bash", "-c", start]
        if not network:
            command = [require("unshare"), "--net", "bash", "-c", f"ip link set lo up && {start}"]
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: background jobs included in stop()
        )
        self.lines: list[str] = []
        self._seen = (0, 0)  # where the previous match ended: line, column
        self._changed = threading.Condition()
        assert self.proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        """Lines as they come; the last may be partial (curl ends its output without a newline)."""
        partial = False
        while chunk := os.read(stream.fileno(), 65536):
            with self._changed:
                pieces = chunk.decode(errors="replace").split("\n")
                if partial:
                    self.lines[-1] += pieces.pop(0)
                self.lines.extend(pieces)
                partial = self.lines[-1] != ""
                if not partial:
                    self.lines.pop()
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def type(self, commands: str) -> None:
        """Give bash ``commands``, as pasted into a terminal."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((commands if commands.endswith("\n") else commands + "\n").encode())
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first match of ``pattern`` in what was printed after the previous match (on the same
        line too: curl prints no newline, so the next output may share its line), as soon as it is
        printed. ``^`` and ``$`` are the line's ends."""
        compiled = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                line, column = self._seen
                for index in range(line, len(self.lines)):
                    found = compiled.search(self.lines[index], column if index == line else 0)
                    if found:
                        self._seen = (index, max(found.end(), found.start() + 1))
                        return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._changed.wait(0.1)):
                    break
                self._changed.wait(left)
        output = "\n".join(self.lines)
        raise AssertionError(f"no line matching {pattern!r} within {timeout}s; the shell printed:\n{output}")

    def printed(self, pattern: str) -> bool:
        """Whether any line printed so far matches ``pattern``."""
        with self._changed:
            return any(re.search(pattern, line) for line in self.lines)

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the shell's process group, as a terminal sends it to its foreground job."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self, timeout: float = 60) -> int:
        """Close bash's input and wait for it to exit; its exit status."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Stop the shell and everything it started: SIGTERM to its process group, then SIGKILL."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(10)  # bash itself reaped, so only its jobs can keep the group alive
            except subprocess.TimeoutExpired:
                continue
            if _wait_group_gone(self.proc.pid, 10):
                break
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Shell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_group_gone(pgid: int, timeout: float) -> bool:
    """Whether the process group ``pgid`` empties within ``timeout`` (polled: no signal tells us)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
