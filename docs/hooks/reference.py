"""mkdocs hook: the settings, command-line and behaviour references, generated at build time.

A page that holds ``<!-- reference: settings -->``, ``<!-- reference: cli -->`` or
``<!-- reference: behaviours -->`` or ``<!-- reference: schemas -->`` gets the tables made from
``mock_server.settings.SPECS``, ``mock_server.cli.build_parser()``, the behaviours
``GET /_mock/behaviours`` lists, or the shipped schemas, in its place: the same text ``--help`` and
the fake print, so the docs cannot disagree with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from mock_server.cli import build_parser
from mock_server.model.behaviours import BEHAVIOURS
from mock_server.resources import data_dir, load_schema, schema_names
from mock_server.settings import ENV_PREFIX, SPECS, Settings, default_text, flag_for
from mock_server.testing.plugin import MARKER_EXTRAS, TEST_DEFAULTS, ini_for, session_only
from mock_server.testing.plugin import flag_for as pytest_flag

MARKERS = {
    "settings": lambda: settings_reference(),
    "cli": lambda: cli_reference(),
    "behaviours": lambda: behaviours_reference(),
    "schemas": lambda: schemas_reference(),
}


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (``<NAME>`` would be read as an HTML tag)."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")


def settings_reference() -> str:
    names = [f.name for f in dataclasses.fields(Settings)]
    fixed = session_only()
    out = [
        "| setting | default | what it means and takes |",
        "|---|---|---|",
        *(f"| [`{n}`](#{n}) | `{cell(default_text(n))}` | {cell(SPECS[n].help)} |" for n in names),
        "",
        "## Every form of each name",
        "",
        "The flag of `cobalt-mock serve`, the environment variable, and the pytest plugin's option, ini",
        "option and marker argument. Settings marked *session only* shaped the running server (its",
        "socket, client, routes or logging), so a marker cannot change them for one test.",
        "",
        "| setting | `serve` flag | environment | pytest option | ini option | marker |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        marker = "session only" if n in fixed else f"`{n}=`"
        out.append(
            f"| `{n}` | `{flag_for(n)}` | `{ENV_PREFIX}{n.upper()}` | `{pytest_flag(n)}` | `{ini_for(n)}` "
            f"| {marker} |"
        )
    tests = ", ".join(f"`{n}={v}`" for n, v in TEST_DEFAULTS.items())
    extras = ", ".join(f"`{n}`" for n in MARKER_EXTRAS)
    out += [
        "",
        f"In pytest the defaults differ in three places: {tests}. The marker also takes {extras},",
        "which are not settings ([the pytest plugin](pytest-plugin.md#per-test-settings-the-marker)).",
        "",
        "## Each setting",
        "",
    ]
    for n in names:
        spec = SPECS[n]
        out += [
            f"### `{n}` {{ #{n} }}",
            "",
            f"{spec.help}.",
            "",
            f"Default `{default_text(n)}` · `{flag_for(n)}` · `{ENV_PREFIX}{n.upper()}`",
            "",
        ]
        if spec.reads:
            out += [f"Cobalt's documentation, the sentence this setting reads: *{cell(spec.reads)}*", ""]
    return "\n".join(out)


def cli_reference() -> str:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    about = {choice.dest: choice.help for choice in commands._choices_actions}
    out = [
        "| command | what it does |",
        "|---|---|",
        *(f"| [`cobalt-mock {name}`](#{name}) | {cell(about[name] or '')} |" for name in commands.choices),
        "",
        "`cobalt-mock --version` prints the version; `cobalt-mock COMMAND --help` prints what follows.",
        "",
    ]
    for name, command in commands.choices.items():
        out += [
            f"## `cobalt-mock {name}` {{ #{name} }}",
            "",
            cell(command.description or ""),
            "",
            "```text",
            command.format_usage().strip(),
            "```",
            "",
            "| argument | what it means and takes |",
            "|---|---|",
            *(argument_row(action) for action in command._actions if action.help != argparse.SUPPRESS),
            "",
        ]
    return "\n".join(out)


def argument_row(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"| `{action.dest.upper()}` | {cell(action.help or '')} |"
    value = "" if action.nargs == 0 else f" {action.metavar or action.dest.upper()}"
    repeat = " (repeatable)" if isinstance(action, argparse._AppendAction) else ""
    flags = ", ".join(f"`{flag}{value}`" for flag in action.option_strings)
    return f"| {flags}{repeat} | {cell(action.help or '')} |"


def behaviours_reference() -> str:
    out = [
        "| behaviour | what happens | parameters (defaults) | magic MRN | magic provider id | header |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in BEHAVIOURS.items():
        about = spec.to_json()
        params = ", ".join(
            f"`{p}={v if isinstance(v, str) else json.dumps(v)}`" + (" (N)" if p == spec.primary else "")
            for p, v in about["params"].items()
        )
        header = f"{name}=N" if spec.primary else name
        out.append(
            f"| `{name}` | {cell(spec.summary)} | {params or '—'} | `{about['magic_mrn']}` "
            f"| `{about['magic_provider_id']}` | `X-Cobalt-Mock-Scenario: {header}` |"
        )
    return "\n".join(out)


def schemas_reference() -> str:
    names = schema_names()
    fixtures = data_dir("fixtures")
    out = ["| schema | what it describes | strict twin | examples in `fixtures/` |", "|---|---|---|---|"]
    for name in (n for n in names if not n.endswith(".strict")):
        schema = load_schema(name)
        about = cell(f"{schema.get('title', '')}: {schema.get('description', '')}")
        strict = f"`{name}.strict`" if f"{name}.strict" in names else "—"
        count = len(list((fixtures / name).glob("*.json"))) if (fixtures / name).is_dir() else 0
        out.append(f"| `{name}` | {about} | {strict} | {count or '—'} |")
    return "\n".join(out)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    for name, generate in MARKERS.items():
        marker = f"<!-- reference: {name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, generate())
    return markdown
