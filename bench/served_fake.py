"""``cobalt-mock serve`` as the reliability runs' child process: started on a free loopback port, its
memory read from /proc, its stderr kept in a file, stopped with a signal and the exit timed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from pathlib import Path


class ServedFake:
    """``python -m mock_server serve --port 0 ...`` as a child process; stderr kept in a file."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.url = ""
        self.banner = ""
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.exit_code: int | None = None
        self.shutdown_seconds: float | None = None
        self._drain: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "mock_server",
            "serve",
            "--port",
            "0",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr_file,
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        self.banner = line.decode()
        if "listening on " not in self.banner:
            raise RuntimeError(f"cobalt-mock did not start: {self.banner!r} {self.stderr()!r}")
        self.url = self.banner.split("listening on ")[1].split()[0]
        self._drain = asyncio.create_task(self._discard(self.proc.stdout))

    @staticmethod
    async def _discard(stream: asyncio.StreamReader) -> None:
        while await stream.read(1 << 16):
            pass

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def memory(self) -> tuple[int, int]:
        """(current RSS, peak RSS) in bytes, from /proc (Linux)."""
        values = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    values[name] = int(value.split()[0]) * 1024
        return values.get("VmRSS", 0), values.get("VmHWM", 0)

    async def terminate(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig``; wait for the exit and time it (``shutdown_seconds``)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(sig)
        self.exit_code = await asyncio.wait_for(self.proc.wait(), timeout)
        self.shutdown_seconds = time.monotonic() - started
        return self.exit_code

    def stderr(self) -> str:
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._drain is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._drain, 5)
        self.stderr_file.close()
