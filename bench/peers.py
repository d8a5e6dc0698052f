"""The fetch cells' peers: WireMock and Prism, each serving a stub of ``POST /v1/appointments/fetch``
(a 202 with the bare app's body, ``bench.bare_app.ACCEPTED``) and ``GET /_mock/health``.

Both come from npm, pinned in ``bench/.peers/package.json`` and its lock file; the bench runs
``npm ci`` there the first time a fetch cell needs them (``node_modules`` is git-ignored). WireMock
is the standalone jar that the ``wiremock`` package ships, run with ``java -jar`` directly so the
process the bench stops by its pid is the JVM itself (the package's own launcher is a node process
that would leave its java child behind). Prism mocks the fake's own OpenAPI document, with the
bare app's bodies as the two responses' examples, so it validates each request's headers and body
against the same schemas as the fake does. A peer that cannot be had (no npm, node or java, or an
install that fails) is named with the reason in one line, and its columns read "n/a".
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.bare_app import ACCEPTED
from bench.servers import ROOT, Process, free_port, start

HOME = ROOT / "bench" / ".peers"


@dataclass(frozen=True)
class Peer:
    name: str
    label: str
    package: str
    needs: tuple[str, ...]
    """Executables it runs on (besides npm, which installs it)."""


PEERS = (
    Peer("wiremock", "WireMock", "wiremock", ("java",)),
    Peer("prism", "Prism", "@stoplight/prism-cli", ("node",)),
)


def pinned(home: Path = HOME) -> dict[str, str]:
    """Package → version, as ``package.json`` pins them."""
    wanted: dict[str, str] = json.loads((home / "package.json").read_text())["dependencies"]
    return wanted


def installed(home: Path = HOME) -> dict[str, str | None]:
    """Package → the version under ``node_modules``, or None where it is absent."""
    out: dict[str, str | None] = {}
    for package in pinned(home):
        manifest = home / "node_modules" / package / "package.json"
        try:
            out[package] = json.loads(manifest.read_text())["version"]
        except (OSError, ValueError, KeyError):
            out[package] = None
    return out


def stale(wanted: dict[str, str], present: dict[str, str | None]) -> list[str]:
    """The packages whose installed version is not the pinned one."""
    return sorted(package for package, version in wanted.items() if present.get(package) != version)


def unavailable(
    home: Path = HOME,
    which: Callable[[str], str | None] = shutil.which,
    npm_ci: Callable[[Path], str | None] | None = None,
) -> dict[str, str]:
    """Peer name → why it cannot run, for each peer that cannot; installs them first if needed.

    ``npm_ci`` runs the install and returns None or the reason it failed (``_npm_ci`` by default).
    """
    reasons: dict[str, str] = {}
    for peer in PEERS:
        if missing := [tool for tool in peer.needs if which(tool) is None]:
            reasons[peer.name] = f"{' and '.join(missing)} not found"
    if len(reasons) == len(PEERS):
        return reasons
    if stale(pinned(home), installed(home)):
        if which("npm") is None:
            failure: str | None = "npm not found, so not installed"
        else:
            failure = (npm_ci or _npm_ci)(home)
        if failure is None and (left := stale(pinned(home), installed(home))):
            failure = f"npm ci left {', '.join(left)} out"
        if failure is not None:
            return {peer.name: reasons.get(peer.name, failure) for peer in PEERS}
    if "wiremock" not in reasons and _jar(home) is None:
        reasons["wiremock"] = "the wiremock package has no standalone jar"
    return reasons


def _npm_ci(home: Path) -> str | None:
    print(f"bench: installing the peers (npm ci --prefix {home.relative_to(ROOT)}) ...", file=sys.stderr)
    command = ["npm", "ci", "--prefix", str(home), "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return "npm ci did not finish in 600 s"
    if done.returncode == 0:
        return None
    lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return f"npm ci failed: {lines[-1] if lines else f'exit {done.returncode}'}"


@functools.cache
def check() -> dict[str, str]:
    """``unavailable()`` once per bench run, each missing peer said in one line on stderr."""
    reasons = unavailable()
    for peer in PEERS:
        if peer.name in reasons:
            print(f"bench: {peer.label} n/a: {reasons[peer.name]}", file=sys.stderr, flush=True)
    return reasons


def versions(home: Path = HOME) -> str:
    """``WireMock 3.13.2 (Java 17.0.15), Prism 5.14.2 (Node v20.20.2)``; "n/a" for what is missing."""
    present = installed(home) if (home / "package.json").exists() else {}
    runtimes = {"wiremock": _runtime(["java", "-version"]), "prism": _runtime(["node", "--version"])}
    parts = []
    for peer in PEERS:
        version = present.get(peer.package)
        parts.append(f"{peer.label} {version} ({runtimes[peer.name]})" if version else f"{peer.label} n/a")
    return ", ".join(parts)


def _runtime(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return f"no {command[0]}"
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    text = done.stderr + done.stdout
    match = re.search(r'version "([^"]+)"', text) or re.search(r"(v\d\S*)", text)
    return f"{'Java' if command[0] == 'java' else 'Node'} {match.group(1) if match else '?'}"


def _jar(home: Path) -> Path | None:
    return next(
        iter(sorted((home / "node_modules" / "wiremock" / "build").glob("wiremock-standalone-*.jar"))), None
    )


def wiremock_stubs(root: Path) -> None:
    """WireMock's mappings: the fetch's 202 with a content-length (as the bare app sends it, not
    chunked) and the health check."""
    body = json.dumps(ACCEPTED, separators=(",", ":"))
    mappings = root / "mappings"
    mappings.mkdir(parents=True, exist_ok=True)
    fetch = {
        "request": {"method": "POST", "url": "/v1/appointments/fetch"},
        "response": {
            "status": 202,
            "headers": {"content-type": "application/json", "content-length": str(len(body.encode()))},
            "body": body,
        },
    }
    health = {
        "request": {"method": "GET", "url": "/_mock/health"},
        "response": {
            "status": 200,
            "headers": {"content-type": "application/json"},
            "body": '{"status":"ok"}',
        },
    }
    (mappings / "fetch.json").write_text(json.dumps(fetch))
    (mappings / "health.json").write_text(json.dumps(health))


def prism_document(path: Path) -> None:
    """The fake's OpenAPI document, with the bare app's 202 and a health answer as examples."""
    from mock_server.api.openapi import build_openapi

    doc = build_openapi()
    answers = (
        ("/v1/appointments/fetch", "post", "202", ACCEPTED),
        ("/_mock/health", "get", "200", {"status": "ok"}),
    )
    for route, method, status, example in answers:
        doc["paths"][route][method]["responses"][status]["content"]["application/json"]["example"] = example
    path.write_text(json.dumps(doc))


def command(name: str, port: int, workdir: Path, home: Path = HOME) -> list[str]:
    """How each peer is run: quiet (as the fake runs with ``--log-level warning``), on loopback."""
    if name == "wiremock":
        wiremock_stubs(workdir / "wiremock")
        jar = _jar(home)
        assert jar is not None
        return [
            *("java", "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1"),
            *("--root-dir", str(workdir / "wiremock"), "--disable-banner"),
            "--no-request-journal",  # its fastest: see docs/performance.md, "Peers"
        ]
    document = workdir / "openapi.json"
    prism_document(document)
    script = home / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"
    return ["node", str(script), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "warn", str(document)]


@contextlib.contextmanager
def running() -> Iterator[tuple[list[Process], dict[str, str]]]:
    """Start each available peer; yield them and, for the others, why not (a peer that fails to
    start is said in one line too). Every one started is stopped by its pid on the way out."""
    reasons = dict(check())
    started: list[Process] = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        try:
            for peer in PEERS:
                if peer.name in reasons:
                    continue
                port = free_port()
                try:
                    started.append(
                        start(peer.name, command(peer.name, port, Path(tmp)), port=port, timeout=90)
                    )
                except RuntimeError as error:
                    reasons[peer.name] = f"did not start: {str(error)[-300:]}"
                    print(f"bench: {peer.label} n/a: {reasons[peer.name]}", file=sys.stderr, flush=True)
            yield started, reasons
        finally:
            for process in reversed(started):
                process.stop()
