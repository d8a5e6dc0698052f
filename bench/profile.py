"""Where the fake's time goes: ``python -m bench --profile`` samples the fake with py-spy during the
32-connection fetch round and the delivered round (``pip install py-spy``; sampling another process
may need root or ``ptrace`` permission), keeps the collapsed stacks in ``bench/results/`` (feed them
to any flame-graph tool) and prints the functions with the most samples.

Stacks of coroutines resumed by the event loop start at the coroutine, not at ``main``, so the
"inclusive" share of a function is the share of samples with it anywhere on the stack.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """Start sampling ``pid`` for ``seconds`` into ``out`` (collapsed stacks); None without py-spy."""
    tool = py_spy()
    if tool is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [tool, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
    command += ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize(raw: Path, top: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The ``top`` functions by self samples and by inclusive samples, as shares of all samples."""
    own: collections.Counter[str] = collections.Counter()
    anywhere: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            anywhere[frame] += int(count)
    if not total:
        return {"self": [], "inclusive": []}
    return {
        "self": [(name, n / total) for name, n in own.most_common(top)],
        "inclusive": [
            (name, n / total) for name, n in anywhere.most_common(top * 3) if "mock_server" in name
        ][:top],
    }


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: lines merged, so functions add up."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "/work/"):
        path = path.split(marker)[-1]
    return f"{name} ({path})" if path else name


def render(title: str, summary: dict[str, list[tuple[str, float]]]) -> str:
    lines = [f"{title}: self (top), then inclusive (mock_server functions)"]
    lines += [f"  {share:6.1%}  {name}" for name, share in summary["self"]]
    lines.append("  --")
    lines += [f"  {share:6.1%}  {name}" for name, share in summary["inclusive"]]
    return "\n".join(lines)
