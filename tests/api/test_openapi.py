"""mock_server.api.openapi: a valid OpenAPI 3.1 document that embeds schemas/ as they are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from mock_server import resources
from mock_server.api.openapi import build_openapi
from mock_server.settings import Settings
from tests.conftest import Fake

DOC = build_openapi()
REFERENCE_DOC = build_openapi(Settings(webhook_api="reference"))
SCHEMAS = DOC["components"]["schemas"]
FULL = [{"client_id": [], "client_secret": [], "access_token": []}]
WEBHOOK_AUTH = [{"client_id": [], "client_secret": []}]
OPERATIONS = {
    ("/v1/appointments/fetch", "post"),
    ("/v1/appointments", "get"),
    ("/v1/webhook", "post"),
    ("/v1/webhook", "get"),
    ("/v1/webhook/{id}", "delete"),
    ("/v1/webhook/rotate-secret", "post"),
    ("/v1/webhook-events", "get"),
    ("/_mock/health", "get"),
}
# The API reference's version: its own rotation route in place of the guide's.
REFERENCE_OPERATIONS = OPERATIONS - {("/v1/webhook/rotate-secret", "post")} | {
    ("/v1/webhook/{id}/rotate-secret", "post")
}


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair of every object in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def pointer(doc: Any, ref: str) -> Any:
    assert ref.startswith("#/"), ref
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(doc, dict), ref
        assert part in doc, f"dangling $ref {ref}"
        doc = doc[part]
    return doc


def operation(path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = DOC["paths"][path][method]
    return op


def params(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", [])}


def test_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1.")
    validate(DOC)
    validate(REFERENCE_DOC)


def test_document_is_plain_json() -> None:
    assert json.loads(json.dumps(DOC)) == DOC


def test_the_server_is_relative() -> None:
    assert [server["url"] for server in DOC["servers"]] == ["/"]


def test_each_call_returns_its_own_copy() -> None:
    first = build_openapi()
    first["paths"]["/v1/webhook"]["get"]["security"].append({"x": []})
    first["components"]["schemas"]["error"]["title"] = "changed"
    assert build_openapi() == DOC


def test_no_dangling_ref() -> None:
    for doc in (DOC, REFERENCE_DOC):
        refs = [value for key, value in walk(doc) if key == "$ref"]
        assert len(refs) > 50
        for ref in refs:
            pointer(doc, ref)


def test_no_json_schema_resource_keywords_left() -> None:
    keys = {key for key, _ in walk(SCHEMAS)}
    assert not keys & {"$id", "$schema", "$defs", "$dynamicRef", "$dynamicAnchor"}


def test_every_schema_file_and_definition_is_embedded() -> None:
    for name in resources.schema_names():
        if name.endswith(".strict"):
            assert name not in SCHEMAS  # strict wrappers are for the fake's own tests only
            continue
        schema = resources.load_schema(name)
        if name != "common":
            assert name in SCHEMAS
        for definition in schema.get("$defs", {}):
            if definition != "extra":
                assert f"{name}.{definition}" in SCHEMAS


def test_operations_and_webhook() -> None:
    for doc, operations in ((DOC, OPERATIONS), (REFERENCE_DOC, REFERENCE_OPERATIONS)):
        found = {(path, method) for path, item in doc["paths"].items() for method in item}
        assert found == operations
        assert set(doc["webhooks"]) == {"appointment.live_fetch_completed"}
        ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
        assert len(ids) == len(set(ids))


def _body_and_answers(doc: dict[str, Any], path: str, method: str) -> tuple[str | None, set[str]]:
    op = doc["paths"][path][method]
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    answers = {r["content"]["application/json"]["schema"]["$ref"] for r in op["responses"].values()}
    return (body or {}).get("$ref"), {ref.rsplit("/", 1)[1] for ref in answers}


def test_webhook_registration_is_described_in_the_version_served() -> None:
    """Each document describes one version, says so, and names the setting that gives the other."""
    assert _body_and_answers(DOC, "/v1/webhook", "post") == (
        "#/components/schemas/webhook-register-request",
        {"webhook-register-response", "error"},
    )
    assert _body_and_answers(REFERENCE_DOC, "/v1/webhook", "post") == (
        "#/components/schemas/webhook-reference-create-request",
        {"webhook-reference-create-response", "error"},
    )
    assert _body_and_answers(DOC, "/v1/webhook", "get")[1] == {"webhook-list-response", "error"}
    assert _body_and_answers(REFERENCE_DOC, "/v1/webhook", "get")[1] == {
        "webhook-reference-list-response",
        "error",
    }
    assert _body_and_answers(DOC, "/v1/webhook/rotate-secret", "post")[1] == {
        "webhook-rotate-response",
        "error",
    }
    assert _body_and_answers(REFERENCE_DOC, "/v1/webhook/{id}/rotate-secret", "post")[1] == {
        "webhook-reference-rotate-response",
        "error",
    }
    assert "webhook_api=guide" in DOC["info"]["description"]
    assert "--webhook-api reference" in DOC["info"]["description"]
    assert "webhook_api=reference" in REFERENCE_DOC["info"]["description"]
    assert "--webhook-api guide" in REFERENCE_DOC["info"]["description"]
    # The components are the same: every schema file, whichever version the paths describe.
    assert REFERENCE_DOC["components"] == DOC["components"]


def test_security_schemes_and_who_needs_what() -> None:
    schemes = DOC["components"]["securitySchemes"]
    assert schemes == {
        name: {"type": "apiKey", "in": "header", "name": name, "description": schemes[name]["description"]}
        for name in ("client_id", "client_secret", "access_token")
    }
    assert DOC["security"] == FULL
    for path, method in OPERATIONS | REFERENCE_OPERATIONS:
        doc = DOC if (path, method) in OPERATIONS else REFERENCE_DOC
        security = doc["paths"][path][method].get("security", DOC["security"])
        if path.startswith("/v1/webhook/") or path == "/v1/webhook":
            assert security == WEBHOOK_AUTH, path
        elif path.startswith("/_mock/"):
            assert security == [], path
        else:
            assert security == FULL, path


def test_fetch_operation() -> None:
    op = operation("/v1/appointments/fetch", "post")
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/fetch-request"
    }
    responses = op["responses"]
    assert set(responses) == {"202", "400", "401", "405", "413", "415", "429"}
    assert responses["202"]["content"]["application/json"]["schema"]["$ref"].endswith("/fetch-accepted")
    for status in ("400", "401", "405", "413", "415", "429"):
        assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/error")
    assert responses["429"]["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}


def test_the_document_states_the_servers_rule_readings() -> None:
    fetch = operation("/v1/appointments/fetch", "post")["description"]
    assert "date_range up to 7 days, one provider up to 5 days, 2 to 10 providers for one day" in fetch
    assert SCHEMAS["fetch-request"] == build_openapi(Settings())["components"]["schemas"]["fetch-request"]
    lax = Settings().replace(
        max_range_days=8, max_single_provider_days=6, multi_provider_same_day=False, max_providers=12
    )
    other = build_openapi(lax)
    validate(other)
    assert (
        "date_range up to 8 days, one provider up to 6 days, 2 to 12 providers for up to 6 days"
        in (other["paths"]["/v1/appointments/fetch"]["post"]["description"])
    )
    provider_ids = other["components"]["schemas"]["fetch-request"]["properties"]["provider_ids"]
    assert provider_ids["anyOf"][0]["maxItems"] == 12


def test_cached_appointments_query() -> None:
    query = params(operation("/v1/appointments", "get"))
    assert list(query) == [
        "start_date",
        "end_date",
        "patient_mrn",
        "patient_name",
        "patient_phone",
        "include_note",
        "appointment_mode",
    ]
    assert {name for name, p in query.items() if p["required"]} == {"start_date", "end_date"}
    assert all(p["in"] == "query" for p in query.values())
    assert query["appointment_mode"]["schema"]["enum"] == ["office", "telemedicine"]


def test_webhook_events_query() -> None:
    query = params(operation("/v1/webhook-events", "get"))
    assert set(query) == {
        "job_id",
        "event_type",
        "delivery_status",
        "start_date",
        "end_date",
        "page",
        "page_size",
        "sort",
    }
    assert not any(p["required"] for p in query.values())
    assert query["page"]["schema"]["minimum"] == 1
    assert query["page_size"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}
    assert query["sort"]["schema"]["default"] == "-created_at"


def test_completion_webhook() -> None:
    post = DOC["webhooks"]["appointment.live_fetch_completed"]["post"]
    headers = params(post)
    assert set(headers) == {"cobalt-verification", "webhook-id", "webhook-timestamp", "webhook-attempt"}
    assert all(h["in"] == "header" and h["required"] for h in headers.values())
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/webhook"
    }


def component_validator(name: str) -> Draft202012Validator:
    root = {
        "$id": "urn:cobalt-mock:openapi",
        "components": DOC["components"],
        "$ref": f"#/components/schemas/{name}",
    }
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


FIXTURES = resources.data_dir("fixtures")
OPEN_FIXTURES = sorted(
    p.relative_to(FIXTURES).with_suffix("").as_posix()
    for p in FIXTURES.rglob("*.json")
    if not p.parent.name.endswith(".strict")
)


@pytest.mark.parametrize("fixture", OPEN_FIXTURES)
def test_embedded_schemas_judge_fixtures_like_the_files(fixture: str) -> None:
    name = fixture.split("/")[0]
    instance = resources.read_json(FIXTURES / f"{fixture}.json")
    assert component_validator(name).is_valid(instance) == resources.validator(name).is_valid(instance)


def test_embedded_schemas_are_open() -> None:
    payload = resources.read_json(FIXTURES / "webhook-date-range" / "valid-documented.json")
    payload["data"]["appointments"][0]["undocumented"] = True
    assert component_validator("webhook").is_valid(payload)


def test_schemathesis_loads_the_document_and_generates_valid_fetch_bodies() -> None:
    schemathesis = pytest.importorskip("schemathesis")
    schema = schemathesis.openapi.from_dict(DOC)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.path, op.method) for op in operations} == OPERATIONS
    fetch = next(op for op in operations if op.path == "/v1/appointments/fetch")

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(fetch.as_strategy())
    def body_fits_the_schema(case: Any) -> None:
        assert resources.validator("fetch-request").is_valid(case.body), case.body

    body_fits_the_schema()


# --- the served document, checked by the validators users run ---------------------------------------

SPECTRAL_DIR = Path(__file__).resolve().parents[2] / ".ci" / "spectral"


def spectral() -> str | None:
    """Spectral as .ci/run installs it (``npm ci --prefix .ci/spectral``), else one on the PATH."""
    local = SPECTRAL_DIR / "node_modules" / ".bin" / "spectral"
    return str(local) if local.exists() else shutil.which("spectral")


def served_documents(serve: Callable[..., Fake], tmp_path: Path) -> list[Path]:
    """``/openapi.json`` as a default server and a server with other rule readings serve it."""
    lax = {"max_range_days": 8, "max_single_provider_days": 6, "multi_provider_same_day": False}
    paths = []
    for name, values in (("default", {}), ("lax", {**lax, "max_providers": 12})):
        answer = serve(**values).http.get("/openapi.json/")
        assert answer.status_code == 200, answer.text
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_bytes(answer.content)
    return paths


def test_the_served_document_passes_openapi_spec_validator(
    serve: Callable[..., Fake], tmp_path: Path
) -> None:
    for path in served_documents(serve, tmp_path):
        validate(json.loads(path.read_text(encoding="utf-8")))


def test_the_served_document_passes_spectrals_oas_ruleset(serve: Callable[..., Fake], tmp_path: Path) -> None:
    tool = spectral()
    if tool is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Spectral is missing: .ci/run installs it with npm ci --prefix .ci/spectral")
        pytest.skip("Spectral is not installed (npm ci --prefix .ci/spectral)")
    documents = served_documents(serve, tmp_path)
    ruleset = str(SPECTRAL_DIR / "ruleset.yaml")
    command = [tool, "lint", "--ruleset", ruleset, "--format", "json", "--quiet", *map(str, documents)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    found = json.loads(result.stdout or "[]")
    errors = [
        f"{d['code']} at {'.'.join(map(str, d['path']))}: {d['message']}" for d in found if d["severity"] == 0
    ]
    assert errors == [], errors
    assert result.returncode == 0, result.stderr
