"""Server processes for the bench: start one, learn its URL from its first line, time it to the first
200, read its memory from ``/proc``, stop it. Every process is ours and is stopped by its own pid."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEALTH = "/_mock/health"
_URL = re.compile(r"http://127\.0\.0\.1:(\d+)(/\S*)?")


def clean_env() -> dict[str, str]:
    """The caller's environment without ``COBALT_MOCK_*`` (the bench decides every setting) and
    without ``PYTHONDONTWRITEBYTECODE``: start-up is measured with bytecode caches, as an installed
    package has them, not compiling every module on every start."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COBALT_MOCK_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cache_bytecode() -> None:
    """Import what the servers and the fixture import once, so their caches exist before timing."""
    modules = (
        "mock_server.cli, mock_server.api.app, mock_server.api.control, mock_server.testing.handle, "
        "bench.bare_app"
    )
    subprocess.run([sys.executable, "-c", f"import {modules}"], cwd=ROOT, env=clean_env(), check=True)


def fake_command(*flags: str) -> list[str]:
    """``cobalt-mock serve`` as a user runs it (the console script beside this interpreter)."""
    script = Path(sys.executable).with_name("cobalt-mock")
    base = [str(script)] if script.exists() else [sys.executable, "-m", "mock_server"]
    return [*base, "serve", "--port", "0", "--log-level", "warning", *flags]


def bare_command() -> list[str]:
    return [sys.executable, "-m", "bench.bare_app", "--port", "0"]


def sink_command(secret: str) -> list[str]:
    return [sys.executable, "-m", "bench.sink", "--secret", secret]


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[str]
    url: str
    """Base URL (for a sink: its delivery URL)."""
    ready_seconds: float
    """Process start to its first line (sinks), or to its first 200 (servers)."""
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def memory_mb(self) -> dict[str, float]:
        """``VmRSS`` (now) and ``VmHWM`` (peak) of the process, in MB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        out = {}
        for key in ("VmRSS", "VmHWM"):
            match = re.search(rf"^{key}:\s+(\d+) kB", status, re.M)
            out[key] = int(match.group(1)) / 1024 if match else float("nan")
        return out

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout)


def free_port() -> int:
    """A loopback port nothing listens on now, for a server that cannot be told to pick one and
    say which (the peers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    name: str, command: list[str], *, health: bool = True, port: int | None = None, timeout: float = 30.0
) -> Process:
    """Start ``command``; return once its first line names its URL, or at once if ``port`` is
    given (and, for servers, once ``GET /_mock/health`` answers 200). ``ready_seconds`` counts
    from just before the exec."""
    started = time.perf_counter()
    popen = subprocess.Popen(
        command,
        cwd=ROOT,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def drain() -> None:  # keeps the pipe from filling; the first lines are kept for errors
        assert popen.stdout is not None
        for line in popen.stdout:
            if len(output) < 200:
                output.append(line.rstrip())
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, name=f"bench-{name}-output", daemon=True).start()
    deadline = started + timeout
    path = ""
    while port is None:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.perf_counter()))
        except queue.Empty:
            line = None
        if line is None:
            _kill(popen)
            raise RuntimeError(f"{name} did not print its URL: {' | '.join(output)[-2000:]}")
        if match := _URL.search(line):
            port, path = int(match.group(1)), match.group(2) or ""
    url = f"http://127.0.0.1:{port}" + ("" if health else path)
    if health:
        while not _answers_200(port):
            if popen.poll() is not None or time.perf_counter() > deadline:
                _kill(popen)
                raise RuntimeError(f"{name} never answered 200: {' | '.join(output)[-2000:]}")
            time.sleep(0.0005)
    return Process(name, popen, url, time.perf_counter() - started, output)


def _answers_200(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(f"GET {HEALTH} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _kill(popen: subprocess.Popen[str]) -> None:
    if popen.poll() is None:
        popen.kill()
        popen.wait(10)
