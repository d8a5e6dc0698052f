"""``cobalt-mock serve`` as a child process, its output read line by line as it comes.

For the tests that need a real process: signals, exit codes, logs, memory. ``wait_for_line`` blocks on
a condition the reader threads signal, so nothing sleeps to wait for output.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class ServeProcess:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: dict[str, list[str]] = {"out": [], "err": []}
        self._changed = threading.Condition()
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(name, stream), daemon=True)
            for name, stream in (("out", self.proc.stdout), ("err", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()
        self.signalled_at: float | None = None  # the first signal
        self.last_signalled_at: float | None = None
        self.exit_seconds: float | None = None  # from the first signal to the exit
        self.last_signal_exit_seconds: float | None = None  # from the last signal to the exit
        try:
            self.banner = self.wait_for_line("listening on ", stream="out")
        except BaseException:
            self.stop()
            raise
        self.url = self.banner.split("listening on ")[1].split()[0]

    def _read(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines[name].append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for_line(self, text: str, *, stream: str = "err", timeout: float = 20) -> str:
        """The first line of ``stream`` containing ``text``, as soon as it is printed."""

        def found() -> str | None:
            return next((line for line in self.lines[stream] if text in line), None)

        with self._changed:
            line = self._changed.wait_for(found, timeout)
        if line is None:
            raise AssertionError(f"no line with {text!r} within {timeout}s; output so far:\n{self.output}")
        return line

    def send(self, sig: int = signal.SIGTERM) -> None:
        self.last_signalled_at = time.monotonic()
        if self.signalled_at is None:
            self.signalled_at = self.last_signalled_at
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        """The exit code, once the process and its output are done; ``exit_seconds`` since the first
        signal, ``last_signal_exit_seconds`` since the last."""
        code = self.proc.wait(timeout)
        exited = time.monotonic()
        if self.signalled_at is not None and self.last_signalled_at is not None:
            self.exit_seconds = exited - self.signalled_at
            self.last_signal_exit_seconds = exited - self.last_signalled_at
        self._finish()
        return code

    def _finish(self) -> None:
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    @property
    def stdout(self) -> str:
        with self._changed:
            return "\n".join(self.lines["out"])

    @property
    def stderr(self) -> str:
        with self._changed:
            return "\n".join(self.lines["err"])

    @property
    def output(self) -> str:
        return f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    def memory(self) -> int:
        """Resident set size in bytes (Linux)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS in /proc")  # pragma: no cover

    def stop(self) -> None:
        """SIGTERM if still running (so it exits cleanly, coverage data and all), SIGKILL if stuck."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait(10)
        self._finish()


def tracked_processes() -> Iterator[type[ServeProcess]]:
    """For a fixture: a ``ServeProcess`` class whose processes, if still running after the test,
    are stopped."""
    started: list[ServeProcess] = []

    class Tracked(ServeProcess):
        def __init__(self, *args: str) -> None:
            super().__init__(*args)
            started.append(self)

    yield Tracked
    for process in started:
        process.stop()
