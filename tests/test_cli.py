"""The `cobalt-mock` command: serving from a real process, determinism across processes, check-webhook."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_server import cli
from mock_server.api.serving import bind_socket
from mock_server.delivery.webhook import serialize, sign
from mock_server.resources import data_dir
from mock_server.settings import DEFAULT_WEBHOOK_SECRET, SPECS, Settings, default_text, flag_for
from mock_server.testing.receiver import WebhookReceiver
from tests.conftest import HEADERS, RULE_READINGS, WEEK
from tests.serve_process import ServeProcess, tracked_processes


class Served:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "serve", "--port", "0", "--log-level", "warning", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.banner = self.proc.stdout.readline()  # printed once the socket is bound
        assert "listening on " in self.banner, self.proc.stderr.read() if self.proc.stderr else ""
        self.url = self.banner.split("listening on ")[1].split()[0]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=15)
        self.stderr = err
        return self.proc.returncode


@pytest.fixture
def served() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.communicate()


def ready(url: str) -> None:
    # The banner is printed after bind, before uvicorn accepts: connections queue in the backlog,
    # so the first request simply waits for the server instead of failing.
    assert httpx.get(f"{url}/_mock/health", timeout=10).json()["status"] == "ok"


def fetched_data(receiver: WebhookReceiver, url: str, body: dict[str, object]) -> dict[str, object]:
    job_id = httpx.post(f"{url}/v1/appointments/fetch", json=body, headers=HEADERS, timeout=10).json()[
        "job_id"
    ]
    data: dict[str, object] = receiver.wait_for_webhook(job_id, timeout=15).payload["data"]
    return data


def test_two_processes_with_one_seed_agree(served: list[Served], receiver: WebhookReceiver) -> None:
    for seed in ("5", "5", "6"):
        served.append(Served("--delay", "0", "--seed", seed, "--webhook-url", receiver.url))
    for s in served:
        ready(s.url)
    mrn = {"search_by": "mrn", "mrn": "4321"}
    provider = {
        "search_by": "provider",
        "provider_ids": ["prov_a"],
        "start_date": "2025-03-03",
        "end_date": "2025-03-04",
    }
    # ask the second process in the opposite order: order must not matter
    first = [fetched_data(receiver, served[0].url, body) for body in (WEEK, mrn, provider)]
    second = [fetched_data(receiver, served[1].url, body) for body in (provider, mrn, WEEK)][::-1]
    assert first == second
    assert first[0]["appointment_count"] > 0
    other_seed = fetched_data(receiver, served[2].url, WEEK)
    assert other_seed["appointments"] != first[0]["appointments"]
    for s in served:
        assert s.stop() == 0


def test_banner_names_url_secret_and_settings(served: list[Served]) -> None:
    s = Served("--delay", "1..3", "--seed", "9")
    served.append(s)
    assert s.url.startswith("http://127.0.0.1:")
    assert DEFAULT_WEBHOOK_SECRET in s.banner
    assert "delay 1..3s" in s.banner
    assert "seed 9" in s.banner
    ready(s.url)
    assert s.stop() == 0


def test_the_banner_links_the_dashboard_which_ends_its_stream_on_sigterm(served: list[Served]) -> None:
    # A grace far past stop()'s 15 s: uvicorn would hold an open stream that long before cutting it.
    s = Served("--control-token", "sekret", "--shutdown-grace", "60")
    served.append(s)
    assert s.proc.stdout is not None
    line = s.proc.stdout.readline()
    assert line == f"cobalt-mock dashboard: {s.url}/_mock/ui (it asks for the control token)\n"
    ready(s.url)
    assert httpx.get(f"{s.url}/_mock/ui", timeout=10).status_code == 200
    auth = {"authorization": "Bearer sekret"}
    with httpx.stream("GET", f"{s.url}/_mock/stream", headers=auth, timeout=30) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "event: state"
        s.proc.send_signal(signal.SIGTERM)
        rest = list(lines)  # the server ends the stream; a cut-off one would raise here
    assert all(not text or text.startswith(("data: ", "event: ", ":")) for text in rest)
    s.proc.communicate(timeout=15)
    assert s.proc.returncode == 0


def test_no_dashboard_line_without_the_control_api(served: list[Served]) -> None:
    s = Served("--control", "false")
    served.append(s)
    ready(s.url)
    s.proc.send_signal(signal.SIGTERM)
    out, _ = s.proc.communicate(timeout=15)
    assert (s.proc.returncode, out) == (0, "")  # the banner was the only line


def test_environment_configures_the_server(served: list[Served], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBALT_MOCK_WEBHOOK_SECRET", "whsec_from_env")
    monkeypatch.setenv("COBALT_MOCK_CLIENT_ID", "ci_live_only")
    s = Served()
    served.append(s)
    assert "whsec_from_env" in s.banner
    ready(s.url)
    response = httpx.post(f"{s.url}/v1/appointments/fetch", json=WEEK, headers=HEADERS, timeout=10)
    assert response.status_code == 401
    assert s.stop() == 0


def test_bad_setting_exits_2_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve", "--delay", "soon"]) == 2
    assert "cobalt-mock: error: --delay soon: delay must be" in capsys.readouterr().err


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command run to its end, in an environment with no COBALT_MOCK_* but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COBALT_MOCK_")}
    return subprocess.run(
        [sys.executable, "-m", "mock_server", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["serve", "--port", "99999"], {}, "--port 99999: expected a number from 0 to 65535"),
        (
            ["serve"],
            {"COBALT_MOCK_PORT": "70000"},
            "COBALT_MOCK_PORT=70000: expected a number from 0 to 65535",
        ),
        (
            ["serve", "--log-level", "loud"],
            {},
            "--log-level loud: expected one of critical, error, warning, info, debug, trace",
        ),
        (
            ["serve"],
            {"COBALT_MOCK_LOG_LEVEL": "loud"},
            "COBALT_MOCK_LOG_LEVEL=loud: expected one of critical",
        ),
        (
            ["serve", "--webhook-url", "http://127.0.0.1:9/ok", "--webhook-url", "not-a-url"],
            {},
            "--webhook-url: 'not-a-url' is not an absolute http or https URL",
        ),
        (
            ["serve"],
            {"COBALT_MOCK_WEBHOOK_URLS": "ftp://x"},
            "COBALT_MOCK_WEBHOOK_URLS=ftp://x: 'ftp://x' is not",
        ),
        (["serve", "--max-range-days", "0"], {}, "--max-range-days 0: expected a number >= 1, got '0'"),
        (
            ["serve"],
            {"COBALT_MOCK_MULTI_PROVIDER_SAME_DAY": "maybe"},
            "COBALT_MOCK_MULTI_PROVIDER_SAME_DAY=maybe: expected a boolean",
        ),
        (["serve", "--admission-timeout", "-1"], {}, "--admission-timeout -1: expected a number >= 0"),
        (["serve", "--delay", "abc"], {}, "--delay abc: delay must be seconds, a range like 1..5"),
        (
            ["serve", "--webhook-api", "v2"],
            {},
            "--webhook-api v2: expected one of guide, reference; got 'v2'",
        ),
        (["serve"], {"COBALT_MOCK_WEBHOOK_API": "v2"}, "COBALT_MOCK_WEBHOOK_API=v2: expected one of guide"),
        (["serve"], {"COBALT_MOCK_DELAY": "abc"}, "COBALT_MOCK_DELAY=abc: delay must be seconds, a range"),
        (["serve", "--webhook-secret", ""], {}, "--webhook-secret '': expected a non-empty secret"),
        (["receive", "--port", "99999"], {}, "--port 99999: expected a number from 0 to 65535"),
        (["receive", "--port", "abc"], {}, "--port abc: expected a number"),
        (
            ["receive", "--status", "999"],
            {},
            "--status 999: a receiver answers with a status from 200 to 599",
        ),
        (["receive", "--status", "ok"], {}, "--status ok: a receiver answers with a status from 200 to 599"),
        (["receive", "--secret", ""], {}, "--secret '': expected a non-empty secret"),
        (
            ["receive"],
            {"COBALT_MOCK_WEBHOOK_SECRET": ""},
            "COBALT_MOCK_WEBHOOK_SECRET='': expected a non-empty",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_it_before_anything_starts(
    args: list[str], env: dict[str, str], line: str
) -> None:
    result = run_cli(*args, **env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # no banner
    [only] = result.stderr.splitlines()
    assert only.startswith(f"cobalt-mock: error: {line}"), only


@pytest.mark.parametrize("command", ["serve", "receive"])
def test_a_busy_port_is_one_line_naming_the_address(command: str) -> None:
    with bind_socket() as busy:
        port = busy.getsockname()[1]
        result = run_cli(command, "--port", str(port))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"cobalt-mock: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


@pytest.mark.parametrize("command", ["serve", "receive"])
def test_an_unknown_flag_shows_the_subcommands_usage(command: str) -> None:
    result = run_cli(command, "--prot", "1")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"usage: cobalt-mock {command} [-h]"), result.stderr
    assert lines[-1] == f"cobalt-mock {command}: error: unrecognized arguments: --prot 1"


@pytest.fixture
def processes() -> Iterator[type[ServeProcess]]:
    yield from tracked_processes()


def test_an_unknown_variable_is_warned_once_with_the_nearest_name(
    processes: type[ServeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("COBALT_MOCK_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COBALT_MOCK_DELY", "1")
    monkeypatch.setenv("COBALT_MOCK_XYZZY", "1")
    server = processes("--log-level", "warning")
    server.wait_for_line("COBALT_MOCK_DELY")
    ready(server.url)  # uvicorn's signal handling is in place
    server.send(signal.SIGTERM)
    assert server.wait() == 0
    warnings = [line for line in server.stderr.splitlines() if "not a cobalt-mock setting" in line]
    assert warnings == [
        "cobalt-mock: warning: COBALT_MOCK_DELY is not a cobalt-mock setting and is ignored;"
        " did you mean COBALT_MOCK_DELAY?",
        "cobalt-mock: warning: COBALT_MOCK_XYZZY is not a cobalt-mock setting and is ignored;"
        " cobalt-mock serve --help lists them",
    ]


@pytest.mark.parametrize("half", [0, 1])
def test_the_rule_readings_are_variables_and_flags(
    processes: type[ServeProcess], monkeypatch: pytest.MonkeyPatch, half: int
) -> None:
    """Half the rule settings from COBALT_MOCK_*, half from flags; the other run swaps them."""
    for key in [k for k in os.environ if k.startswith("COBALT_MOCK_")]:
        monkeypatch.delenv(key)
    names = sorted(RULE_READINGS)
    flags: list[str] = []
    for i, name in enumerate(names):
        lax = RULE_READINGS[name][0]
        if i % 2 == half:
            monkeypatch.setenv(f"COBALT_MOCK_{name.upper()}", lax)
        else:
            flags += [flag_for(name), lax]
    server = processes("--log-level", "warning", "--delay", "0", *flags)
    for name in names:
        answer = httpx.post(
            f"{server.url}/v1/appointments/fetch", json=RULE_READINGS[name][1], headers=HEADERS, timeout=10
        )
        assert answer.status_code == 202, (name, answer.text)
    nine_days = {"start_date": "2025-01-06", "end_date": "2025-01-14"}
    refused = httpx.post(f"{server.url}/v1/appointments/fetch", json=nine_days, headers=HEADERS, timeout=10)
    assert (refused.status_code, refused.json()["message"]) == (400, "Date range cannot exceed 8 days.")


def test_non_loopback_detection() -> None:
    assert cli._is_loopback("127.0.0.1")
    assert cli._is_loopback("::1")
    assert cli._is_loopback("localhost")
    assert not cli._is_loopback("0.0.0.0")
    assert not cli._is_loopback("example.com")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (choices,) = [a.choices for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(choices)


HELP = re.compile(
    r"(?P<meaning>\S.{15,}) \(default (?P<default>[^;]+); (?:env (?P<env>\S+)|no environment variable)\)"
)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_flag_says_its_meaning_values_default_and_variable(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = subcommands()[command]
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    printed = " ".join(capsys.readouterr().out.split())
    flags = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    assert flags
    for action in flags:
        assert action.help is not None, action.option_strings
        explained = HELP.fullmatch(action.help)
        assert explained, f"{command} {action.option_strings[0]}: {action.help!r}"
        # The default said is the one that applies: the parser's own, or the setting's.
        applies = (
            default_text(action.dest) if action.default is None and action.dest in SPECS else action.default
        )
        assert explained["default"] == ("unset" if applies is None else str(applies)), action.help
        if explained["env"] is not None:
            assert explained["env"].removeprefix("COBALT_MOCK_").lower() in SPECS, action.help
        assert " ".join(action.help.split()) in printed
    if command == "serve":
        assert {a.dest for a in flags} == {f.name for f in dataclasses.fields(Settings)}
        for action in flags:
            assert f"; env COBALT_MOCK_{action.dest.upper()})" in (action.help or ""), action.help


def test_every_positional_argument_is_explained() -> None:
    for command, parser in subcommands().items():
        for action in parser._actions:
            if not action.option_strings:
                assert len(action.help or "") > 20, (command, action.dest)


def documented_webhook() -> Path:
    return data_dir("fixtures") / "webhook-date-range" / "valid-documented.json"


def test_check_webhook_accepts_the_documented_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["check-webhook", str(documented_webhook())]) == 0
    assert "matches" in capsys.readouterr().out


def test_check_webhook_reports_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    payload = json.loads(documented_webhook().read_text())
    del payload["job_id"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(payload))
    assert cli.main(["check-webhook", str(broken)]) == 1
    assert "schema violation" in capsys.readouterr().out
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"{nope")
    assert cli.main(["check-webhook", str(junk)]) == 1


def test_check_webhook_verifies_signatures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = serialize(json.loads(documented_webhook().read_text()))
    captured = tmp_path / "captured.json"
    captured.write_bytes(body)
    good = sign("whsec_x", body)
    assert cli.main(["check-webhook", str(captured), "--secret", "whsec_x", "--signature", good]) == 0
    assert cli.main(["check-webhook", str(captured), "--secret", "whsec_y", "--signature", good]) == 1
    assert "INVALID" in capsys.readouterr().out
    assert cli.main(["check-webhook", str(captured), "--secret", "whsec_x"]) == 1


def test_check_webhook_reads_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mock_server", "check-webhook", "-"],
        input=documented_webhook().read_bytes(),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_receive_prints_each_delivery_with_its_signature_checked() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "receive", "--port", "0", "--secret", "whsec_r"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert "cobalt-mock receiver listening on http://127.0.0.1:" in banner
        url = banner.split("listening on ")[1].split()[0]
        body = serialize({"id": "evt_1", "job_id": "job_1", "data": {}})
        headers = {"content-type": "application/json", "cobalt-verification": sign("whsec_r", body)}
        assert (
            httpx.post(url + "/hook", content=body, headers={**headers, "webhook-attempt": "1"}).status_code
            == 200
        )
        assert "job_id='job_1'" in (line := proc.stdout.readline())
        assert "attempt=1" in line
        assert "signature valid" in line
        httpx.post(url, content=body, headers={**headers, "cobalt-verification": "0" * 64})
        assert "INVALID" in proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0
