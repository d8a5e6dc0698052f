"""The ``cobalt-mock`` command: ``serve`` runs the fake, ``receive`` runs a webhook receiver,
``check-webhook`` checks a captured webhook.

Every setting is a flag named after it (``delay`` → ``--delay``) and a ``COBALT_MOCK_*`` variable;
flags win over the environment. A mistake in either is one ``cobalt-mock: error:`` line naming the
flag or variable, exit status 2, before anything is bound or announced.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import gc
import ipaddress
import logging
import os
import re
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from mock_server.errors import CobaltMockError
from mock_server.settings import (
    ENV_PREFIX,
    SPECS,
    SettingError,
    Settings,
    default_text,
    describe,
    explain,
    flag_for,
    parse_setting,
)
from mock_server.version import __version__

if TYPE_CHECKING:
    from mock_server.testing.receiver import Behaviour

# Collect the youngest generation after 2,000 net new objects (Python's default: 700), the middle
# after 3 of those (default 10), the oldest after 1,000 of those (in effect never, while jobs pile
# up). A pause is what a collection walks, and every waiting job is walked once in the middle
# generation: timed with gc.callbacks on the fetch bench, a middle collection after 100 young ones
# walked ~200,000 objects and paused the server 30-57 ms (the fetch p99); after 3, ~6,000 and
# 2-4 ms (docs/performance.md).
GC_THRESHOLDS = (2_000, 3, 1_000)


class _Command(argparse.ArgumentParser):
    """A subcommand's parser, which refuses arguments it does not know itself: argparse would hand
    them up to the top-level parser, whose error shows the top-level usage instead of this one's."""

    def parse_known_args(  # type: ignore[override]  # one signature of typeshed's overloads
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cobalt-mock", description="A local fake of Cobalt's appointments live-fetch API."
    )
    parser.add_argument("--version", action="version", version=f"cobalt-mock {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    serve = commands.add_parser(
        "serve",
        help="run the fake server",
        description="Run the fake server. Every setting is a flag here and a COBALT_MOCK_<NAME>"
        " environment variable; a flag wins over the variable, which wins over the default.",
        # One line: argparse's own would list all the settings, twenty lines above every error.
        usage="%(prog)s [-h] [--SETTING VALUE ...]",
    )
    for f in dataclasses.fields(Settings):
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "metavar": f.name.upper()}
        if f.name == "webhook_urls":
            kwargs.update(action="append", metavar="URL")
        serve.add_argument(
            flag_for(f.name),
            help=describe(f.name),
            **kwargs,
        )
    check = commands.add_parser(
        "check-webhook",
        help="check a captured webhook body against the schemas (and its signature)",
        description="Validate a captured webhook body against cobalt-mock's schemas; exit 0 if it fits"
        " (and its signature verifies, when --secret and --signature are given), 1 if not.",
    )
    check.add_argument(
        "file",
        type=Path,
        help="path of the webhook body exactly as received (the raw bytes: a signature covers them);"
        " '-' reads standard input",
    )
    check.add_argument(
        "--secret",
        metavar="SECRET",
        help=explain("webhook secret to check the signature with; needs --signature", "unset", None),
    )
    check.add_argument(
        "--signature",
        metavar="HEX",
        help=explain(
            "the delivery's cobalt-verification header (lowercase hex HMAC-SHA256 of the body);"
            " needs --secret",
            "unset",
            None,
        ),
    )
    receive = commands.add_parser(
        "receive",
        help="run a local webhook receiver that prints each delivery",
        description="Receive webhooks on a local port and print one line per delivery, its signature"
        " checked; Ctrl-C (or SIGTERM) stops it.",
    )
    # Values stay text here: they are checked as the settings are, with the same messages.
    receive.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="HOST",
        help=explain(
            "interface to bind; anything but loopback exposes the receiver to the network", "127.0.0.1", None
        ),
    )
    receive.add_argument(
        "--port", default="9000", metavar="PORT", help=explain(SPECS["port"].help, "9000", None)
    )
    receive.add_argument(
        "--secret",
        dest="webhook_secret",
        default=None,
        metavar="SECRET",
        help=explain(
            "secret each delivery's cobalt-verification signature is checked with; the fake's"
            " webhook_secret unless given",
            default_text("webhook_secret"),
            ENV_PREFIX + "WEBHOOK_SECRET",
        ),
    )
    receive.add_argument(
        "--status",
        default="200",
        metavar="CODE",
        help=explain(
            "HTTP status every delivery is answered with, 200-599; a 5xx or 429 makes the fake retry once",
            "200",
            None,
        ),
    )
    return parser


# The receiver's flags that are settings under another name.
RECEIVE_FLAGS = {"host": "--host", "port": "--port", "webhook_secret": "--secret"}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)}
            flags = {f.name: flag_for(f.name) for f in dataclasses.fields(Settings)}
            return serve(_settings(flags, **overrides))
        if args.command == "receive":
            return receive_command(args)
        return check_webhook(args.file, args.secret, args.signature)
    except CobaltMockError as exc:
        print(f"cobalt-mock: error: {exc}", file=sys.stderr)
        return 2


def _settings(flags: Mapping[str, str], **overrides: object) -> Settings:
    """The settings from the environment and ``overrides`` (the flags), a bad flag's error naming it."""
    try:
        return Settings.from_env(None, _warn, **overrides)
    except SettingError as exc:
        raise _as_flag_error(exc, flags) from None


def _as_flag_error(exc: SettingError, flags: Mapping[str, str]) -> SettingError:
    """``exc`` said as the flag that gave the value: ``--delay abc: ...`` (a repeated flag's list
    is not repeated back: the reason names the item)."""
    if exc.source is not None or exc.name not in flags:  # an environment variable names itself
        return exc
    flag = flags[exc.name]
    source = flag if isinstance(exc.value, list | tuple) else f"{flag} {shlex.quote(str(exc.value))}"
    return SettingError(exc.name, exc.value, exc.reason, source)


def _warn(message: str) -> None:
    print(f"cobalt-mock: warning: {message}", file=sys.stderr, flush=True)


def _listen_error(host: str, port: int, exc: OSError) -> CobaltMockError:
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return CobaltMockError(f"cannot listen on {address}: {exc.strerror or exc}")


def serve(settings: Settings) -> int:
    from mock_server.api.app import create_app
    from mock_server.api.dashboard import UI_PATH
    from mock_server.api.serving import bind_socket, format_url, uvicorn_config

    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:  # a busy port, an address not on this machine, a host that does not resolve
        raise _listen_error(settings.host, settings.port, exc) from None
    host, port = sock.getsockname()[:2]
    url = format_url(host, port)
    hooks = ", ".join(settings.webhook_urls) or "none yet (POST /v1/webhook)"
    print(
        f"cobalt-mock {__version__} listening on {url} | webhook secret {settings.webhook_secret}"
        f" | delay {settings.delay}s, seed {settings.seed} | webhooks: {hooks}",
        flush=True,
    )
    if settings.control:
        needs = " (it asks for the control token)" if settings.control_token else ""
        print(f"cobalt-mock dashboard: {url}{UI_PATH}{needs}", flush=True)
    if not _is_loopback(settings.host):
        if not settings.control:
            control = "the control API is off"
        elif settings.control_token:
            control = "the control API needs its token"
        else:
            control = "so is the control API (/_mock/*): set --control-token or --control false"
        print(
            f"cobalt-mock: warning: bound to {settings.host}, reachable from other machines; {control}",
            file=sys.stderr,
            flush=True,
        )
    app = create_app(settings)
    config = uvicorn_config(app, settings, log_config=_log_config(settings.log_level))
    tune_gc()
    try:
        _server_class()(config, app.stopping).run(sockets=[sock])
    finally:
        sock.close()
    return 0


def tune_gc() -> None:
    """The server process's garbage-collector policy (not the pytest plugin's: a test process's GC is
    its own business). What start-up built lives as long as the process: freeze it, so collections
    stop walking it. Accepted jobs wait in the store by the ten thousand, and every full collection
    walks them all: collect the young often (cheap), the old rarely — full collections were the
    fetch bench's p99. Jobs and journal entries hold no reference cycles, so they are freed by
    reference counting when evicted, collections or not."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _server_class() -> type[Any]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, with the fake's signal rules: the first SIGTERM/SIGINT drains and exits 0
        (uvicorn would re-raise the signal and die by it), a second one exits at once. ``stopping``
        is called as shutdown begins (the app ends its live streams)."""

        def __init__(self, config: uvicorn.Config, stopping: Callable[[], None]) -> None:
            super().__init__(config)
            self.stopping = stopping

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            self.stopping()
            await super().shutdown(sockets)

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():  # pragma: no cover
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                print("cobalt-mock: second signal, exiting now", file=sys.stderr, flush=True)
                os._exit(1)
            # Flag first: a second signal can run its handler inside this one, during the print.
            self.should_exit = True
            print("cobalt-mock: shutting down, finishing due webhooks", file=sys.stderr, flush=True)

    return Server


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus the fake's own lines (``cobalt-mock: ...``) at the same level, and
    access-log lines with secrets in query strings (the control API's ``access_token``) masked."""
    from uvicorn.config import LOG_LEVELS, LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": RedactQuery}}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["formatters"]["cobalt"] = {"()": CobaltFormatter}
    config["handlers"]["cobalt"] = {
        "formatter": "cobalt",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
    }
    config["loggers"]["cobalt_mock"] = {
        "handlers": ["cobalt"],
        "level": LOG_LEVELS.get(level.lower(), logging.INFO),
        "propagate": False,
    }
    return config


class CobaltFormatter(logging.Formatter):
    """``cobalt-mock: <message>``, with ``warning:``/``error:`` before the message when it is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            text = f"{'warning' if record.levelno == logging.WARNING else 'error'}: {text}"
        return f"cobalt-mock: {text}"


_SECRET_PARAM = re.compile(r"((?:^|[?&])(?:access_token|client_secret|control_token|token)=)[^&]*", re.I)


class RedactQuery(logging.Filter):
    """Masks secret query parameters in uvicorn's access log (args: client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            record.args = (*args[:2], _SECRET_PARAM.sub(r"\1***", args[2]), *args[3:])
        return True


def check_webhook(file: Path, secret: str | None, signature: str | None) -> int:
    """Exit 0 when the body fits a webhook schema (and the signature verifies, if given), else 1."""
    from jsonschema.exceptions import best_match

    from mock_server.api.inputs import parse_json_body
    from mock_server.delivery.webhook import verify, verify_parsed
    from mock_server.resources import validator

    raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    try:
        payload = parse_json_body(raw)
    except CobaltMockError:
        print(f"{file}: not valid JSON")
        return 1
    ok = True
    error = best_match(validator("webhook").iter_errors(payload))
    if error is None:
        print(f"{file}: matches the appointment.live_fetch_completed webhook schema")
    else:
        ok = False
        print(f"{file}: schema violation at {error.json_path}: {error.message}")
    if signature is not None or secret is not None:
        if not (signature and secret):
            print("both --secret and --signature are needed to check a signature")
            return 1
        raw_ok, parsed_ok = verify(secret, raw, signature), verify_parsed(secret, payload, signature)
        print(f"signature over the raw body: {'valid' if raw_ok else 'INVALID'}")
        print(f"signature over JSON.stringify(parsed body): {'valid' if parsed_ok else 'INVALID'}")
        ok = ok and raw_ok
    return 0 if ok else 1


def receive_command(args: argparse.Namespace) -> int:
    """``cobalt-mock receive``: its flags checked as the settings are, then the receiver run."""
    from mock_server.testing.receiver import Behaviour

    # The default secret is the fake's, from the environment as `serve` reads it.
    secret = _settings(RECEIVE_FLAGS, webhook_secret=args.webhook_secret).webhook_secret
    try:
        host, port = parse_setting("host", args.host), parse_setting("port", args.port)
    except SettingError as exc:
        raise _as_flag_error(exc, RECEIVE_FLAGS) from None
    # Not a number is the receiver's own "a status from 200 to 599" error, as out of range is.
    status: Any = int(args.status) if args.status.isascii() and args.status.isdigit() else args.status
    try:
        answer = Behaviour.status(status)
    except CobaltMockError as exc:
        raise CobaltMockError(f"--status {shlex.quote(args.status)}: {exc}") from None
    return receive(host, port, secret, answer)


def receive(host: str, port: int, secret: str, answer: Behaviour) -> int:
    """Run a ``WebhookReceiver`` in the foreground, printing each delivery until SIGINT/SIGTERM."""
    from mock_server.testing.receiver import WebhookReceiver, WebhookTimeout

    try:
        receiver = WebhookReceiver(secret, host=host, port=port)
    except OSError as exc:
        raise _listen_error(host, port, exc) from None
    receiver.default = answer

    def interrupt(sig: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    receiver.start()
    print(f"cobalt-mock receiver listening on {receiver.url} | verifying with {secret}", flush=True)
    printed = 0
    try:
        while True:
            try:
                arrived = receiver.wait_for(lambda d: True, timeout=3600, count=printed + 1)
            except WebhookTimeout:
                continue
            for delivery in arrived[printed:]:
                print(delivery.describe(), flush=True)
            printed = len(arrived)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0
