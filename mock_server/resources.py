"""The one loader for the JSON files the kit ships: ``schemas/`` and ``fixtures/``.

In a wheel they sit inside the package (hatch ``force-include``); in a source checkout or an editable
install they are the top-level folders of the repository. Code reads them only through here.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

SCHEMA_BASE = "https://cobalt-mock.dev/schemas/"

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``schemas`` or ``fixtures``: inside the installed package, else beside it in the checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cobalt-mock data folder {name!r} is missing from the installation")


def read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


@functools.cache
def schema_names() -> tuple[str, ...]:
    """Every schema's name: its file name without ``.json``."""
    return tuple(sorted(p.stem for p in data_dir("schemas").glob("*.json")))


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = read_json(data_dir("schemas") / f"{name}.json")
    return schema


@functools.cache
def registry() -> Registry[Any]:
    """All schemas by ``$id``, so ``$ref`` between files resolves without touching the network."""
    from referencing import Registry, Resource

    resources = [Resource.from_contents(load_schema(n)) for n in schema_names()]
    return Registry().with_resources(
        (SCHEMA_BASE + f"{n}.json", r) for n, r in zip(schema_names(), resources, strict=True)
    )


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """A reusable validator for schema ``name`` (format checks on, refs resolved locally).

    jsonschema is imported here, not at module level: it is a fifth of the server's start-up.
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(
        load_schema(name),
        registry=registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
