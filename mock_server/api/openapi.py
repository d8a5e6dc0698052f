"""The fake's OpenAPI 3.1 document, generated from ``schemas/`` (served at ``/openapi.json``).

The JSON schemas stay the one source: each file is embedded under ``components/schemas`` by its name
(its ``$defs`` as ``<file>.<def>``), with ``$ref``s rewritten to point there. The document describes
the open contract: the ``$dynamicRef`` hook that strict wrappers close (``schemas/README.md``) is
dropped, and the ``*.strict`` wrappers are left out. The document is this server's: its fetch
states the rule readings of its settings, and ``fetch-request`` allows its ``max_providers``
(at the defaults, the file as it is).

Webhook registration is described in the version the server follows (``webhook_api``: the guide's,
or the API reference's), not both: the two share ``POST /v1/webhook`` with different bodies and
answers, and a document of both would tell a client generator, Prism or Schemathesis that either
body works, when the fake refuses the other version's by name. The description says which version
it is and how to get the other.
"""

from __future__ import annotations

import copy
from typing import Any

from mock_server import resources
from mock_server.api.inputs import DEFAULTS, fetch_request_schema
from mock_server.model.jobs import EVENT_TYPE
from mock_server.settings import Settings
from mock_server.version import __version__

# Relative: the API is wherever this document was fetched from. Nothing is built from the request's
# `Host` header (section 8), which a client, or anyone between it and the fake, chooses.
SERVERS = [{"url": "/", "description": "the fake that served this document"}]
COMPONENTS = "#/components/schemas/"

_FULL_AUTH: list[dict[str, list[str]]] = [{"client_id": [], "client_secret": [], "access_token": []}]
# Webhook management needs no access token: the webhook belongs to the account, not to a provider.
_WEBHOOK_AUTH: list[dict[str, list[str]]] = [{"client_id": [], "client_secret": []}]
_DROPPED_KEYS = frozenset({"$id", "$schema", "$dynamicAnchor"})


def build_openapi(settings: Settings = DEFAULTS) -> dict[str, Any]:
    """The whole document, for a server with ``settings``: its rule readings, and the version of
    webhook registration it serves (``webhook_api``)."""
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "cobalt-mock: Cobalt appointments API (fake)",
            "version": __version__,
            "description": (
                "A local fake of Cobalt's appointments live-fetch API (docs.usecobalt.com) plus its "
                'own /_mock endpoints. Errors are always {"success": false, "message": ...}. '
                + _VERSIONS[settings.webhook_api]
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "servers": SERVERS,
        "security": _FULL_AUTH,
        "paths": _paths(settings),
        "webhooks": _webhooks(),
        "components": {
            "schemas": component_schemas(settings.max_providers),
            "securitySchemes": {
                name: {"type": "apiKey", "in": "header", "name": name, "description": text}
                for name, text in (
                    ("client_id", "Your Cobalt client id, e.g. ci_live_…"),
                    ("client_secret", "Your Cobalt client secret, e.g. cs_live_…"),
                    ("access_token", "One provider's EHR login; not needed for /v1/webhook calls."),
                )
            },
        },
    }
    # Parts are shared between operations (and module constants); a copy keeps callers' edits local.
    return copy.deepcopy(doc)


def component_schemas(max_providers: int = DEFAULTS.max_providers) -> dict[str, Any]:
    """Every schema file but the strict wrappers, with its ``$defs`` hoisted beside it."""
    out: dict[str, Any] = {}
    for name in resources.schema_names():
        if name.endswith(".strict"):
            continue
        loaded = (
            fetch_request_schema(max_providers) if name == "fetch-request" else resources.load_schema(name)
        )
        schema = copy.deepcopy(loaded)
        for def_name, sub in schema.pop("$defs", {}).items():
            if "$dynamicAnchor" not in sub:
                out[f"{name}.{def_name}"] = _rewrite(sub, name)
        if set(schema) - _DROPPED_KEYS - {"title", "description"}:
            out[name] = _rewrite(schema, name)
    return out


def _rewrite(node: Any, current: str) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, current) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or _is_extra_hook(value):
            continue
        out[key] = _component_ref(value, current) if key == "$ref" else _rewrite(value, current)
    return out


def _is_extra_hook(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"$dynamicRef"}


def _component_ref(ref: str, current: str) -> str:
    file_part, _, fragment = ref.partition("#")
    name = file_part.removesuffix(".json") if file_part else current
    if not fragment:
        return COMPONENTS + name
    if fragment.startswith("/$defs/") and fragment.count("/") == 2:
        return f"{COMPONENTS}{name}.{fragment.removeprefix('/$defs/')}"
    raise ValueError(f"schema {current!r}: cannot map $ref {ref!r} into components")


def _schema(name: str) -> dict[str, str]:
    return {"$ref": COMPONENTS + name}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _schema(name)}}}


def _error(description: str) -> dict[str, Any]:
    return _json("error", description)


_UNAUTHORIZED = _error("A required header is missing or empty, or the credentials are wrong.")
_NOT_FOUND = _error("No webhook with this id.")
_UNSUPPORTED = _error("The body is not sent as application/json.")


def _query(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": required, "schema": schema, "description": description}
    if not required:  # `?page=` is `page` left out: Cobalt reads presence like JavaScript's `!value`
        param["allowEmptyValue"] = True
    return param


def _fetch_rules(s: Settings) -> str:
    many = (
        "for one day (start_date == end_date)"
        if s.multi_provider_same_day
        else f"for up to {s.max_single_provider_days} days"
    )
    return (
        f"This server's rules (its settings; docs/rules.md): date_range up to {s.max_range_days} days, "
        f"one provider up to {s.max_single_provider_days} days, 2 to {s.max_providers} providers "
        f"{many}; days are counted with both ends included. Cobalt's documented rules are the "
        "defaults: 7 days, 5 days, 2 to 10 providers for one day. A rule broken is a 400 naming it."
    )


def _paths(settings: Settings) -> dict[str, Any]:
    webhook_api = settings.webhook_api
    hook_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    date = _schema("common.date")
    return {
        "/v1/appointments/fetch": {
            "post": {
                "operationId": "fetchAppointments",
                "summary": "Start a live fetch from the EHR; the result arrives by webhook",
                "description": _fetch_rules(settings),
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("fetch-request")}},
                },
                "responses": {
                    "202": _json("fetch-accepted", "Accepted; keep job_id to match the webhook."),
                    "400": _error("Invalid body, with Cobalt's message for the rule it breaks."),
                    "401": _UNAUTHORIZED,
                    "405": _error("Wrong method."),
                    "413": _error("Body over 1 MiB."),
                    "415": _UNSUPPORTED,
                    "429": {
                        **_error(
                            "Too many fetches in progress: max_jobs jobs stayed unfinished for "
                            "admission_timeout seconds (or the api_429 behaviour)."
                        ),
                        "headers": {
                            "Retry-After": {
                                "description": "Whole seconds until room is likely.",
                                "required": True,
                                "schema": {"type": "integer", "minimum": 1},
                            }
                        },
                    },
                },
            }
        },
        "/v1/appointments": {
            "get": {
                "operationId": "listAppointments",
                "summary": "Appointments from Cobalt's cache (fast, maybe stale)",
                "parameters": [
                    _query("start_date", date, "First day, YYYY-MM-DD.", required=True),
                    _query("end_date", date, "Last day, inclusive, YYYY-MM-DD.", required=True),
                    _query("patient_mrn", {"type": "string"}, "Exact MRN."),
                    _query("patient_name", {"type": "string"}, "Case-insensitive partial match."),
                    _query("patient_phone", {"type": "string"}, "Phone number (digits compared)."),
                    _query("include_note", {"type": "boolean", "default": False}, "Add each note."),
                    _query("appointment_mode", {"enum": ["office", "telemedicine"]}, "Only this mode."),
                ],
                "responses": {
                    "200": _json("appointments-page", "The matching appointments."),
                    "400": _error("Missing or invalid query parameter."),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        **_webhook_paths(webhook_api, hook_id),
        "/v1/webhook-events": {
            "get": {
                "operationId": "listWebhookEvents",
                "summary": "Recorded events: poll with job_id until the completion event appears",
                "parameters": [
                    _query("job_id", {"type": "string"}, "Only this job's events."),
                    _query("event_type", {"type": "string"}, f"e.g. {EVENT_TYPE}."),
                    _query("delivery_status", {"enum": ["success", "failed"]}, "Only this outcome."),
                    _query("start_date", date, "Created on or after this day."),
                    _query("end_date", date, "Created on or before this day."),
                    _query(
                        "page",
                        {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1},
                        "1-based page.",
                    ),
                    _query(
                        "page_size",
                        {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                        "Events per page.",
                    ),
                    _query(
                        "sort",
                        {"enum": ["-created_at", "created_at"], "default": "-created_at"},
                        "Newest first by default.",
                    ),
                ],
                "responses": {
                    "200": _json("webhook-events-page", "One page of events (empty before the job ends)."),
                    "400": _error("Invalid query parameter."),
                    "401": _UNAUTHORIZED,
                },
            }
        },
        "/_mock/health": {
            "get": {
                "operationId": "health",
                "summary": "The fake is up (not a Cobalt endpoint)",
                "security": [],
                "responses": {"200": _json("health", "Up.")},
            }
        },
    }


_VERSIONS = {
    "guide": (
        "Webhook registration follows Cobalt's guide (webhook_api=guide): body webhook_url, one "
        "secret per account, POST /v1/webhook/rotate-secret; a server started with "
        "--webhook-api reference serves the API reference's version instead."
    ),
    "reference": (
        "Webhook registration follows Cobalt's API reference (webhook_api=reference): body url, a "
        "whsec_ secret per webhook, POST /v1/webhook/{id}/rotate-secret (the old secret verifies "
        "24 h more); a server started with --webhook-api guide serves the guide's version instead."
    ),
}


def _webhook_paths(webhook_api: str, hook_id: dict[str, Any]) -> dict[str, Any]:
    """``/v1/webhook*`` as the version ``webhook_api`` names documents them."""
    guide = webhook_api == "guide"
    field = "webhook_url" if guide else "url"
    delete = {
        "delete": {
            "operationId": "deleteWebhook",
            "summary": "Remove a registered URL",
            "security": _WEBHOOK_AUTH,
            "parameters": [hook_id],
            "responses": {
                "200": _json("webhook-delete-response", "Removed."),
                "401": _UNAUTHORIZED,
                "404": _NOT_FOUND,
            },
        }
    }
    paths: dict[str, Any] = {
        "/v1/webhook": {
            "post": {
                "operationId": "registerWebhook",
                "summary": "Register a URL that receives every event",
                "security": _WEBHOOK_AUTH,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _schema(
                                "webhook-register-request" if guide else "webhook-reference-create-request"
                            )
                        }
                    },
                },
                "responses": {
                    "200": _json(
                        "webhook-register-response" if guide else "webhook-reference-create-response",
                        "Registered; the secret signs deliveries."
                        if guide
                        else "Created; the webhook's own secret signs its deliveries.",
                    ),
                    "400": _error(f"Missing or invalid {field}, or an unknown field (named)."),
                    "401": _UNAUTHORIZED,
                    "413": _error("Body over 1 MiB."),
                    "415": _UNSUPPORTED,
                },
            },
            "get": {
                "operationId": "listWebhooks",
                "summary": "The registered URLs" + (" and the signing secret" if guide else ""),
                "security": _WEBHOOK_AUTH,
                "responses": {
                    "200": _json(
                        "webhook-list-response" if guide else "webhook-reference-list-response",
                        "The registered URLs.",
                    ),
                    "401": _UNAUTHORIZED,
                },
            },
        },
        "/v1/webhook/{id}": delete,
    }
    if guide:
        paths["/v1/webhook/rotate-secret"] = {
            "post": {
                "operationId": "rotateWebhookSecret",
                "summary": "A new signing secret for the account; the old one stops verifying",
                "security": _WEBHOOK_AUTH,
                "responses": {
                    "200": _json("webhook-rotate-response", "The new secret."),
                    "401": _UNAUTHORIZED,
                },
            }
        }
    else:
        paths["/v1/webhook/{id}/rotate-secret"] = {
            "post": {
                "operationId": "rotateWebhookSecret",
                "summary": "A new signing secret for one webhook; the old one verifies 24 h more",
                "security": _WEBHOOK_AUTH,
                "parameters": [hook_id],
                "responses": {
                    "200": _json("webhook-reference-rotate-response", "The webhook's new secret."),
                    "401": _UNAUTHORIZED,
                    "404": _NOT_FOUND,
                },
            }
        }
    return paths


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "schema": schema, "description": description}


def _webhooks() -> dict[str, Any]:
    return {
        EVENT_TYPE: {
            "post": {
                "operationId": "liveFetchCompleted",
                "summary": "A live fetch ended (sent to every registered URL)",
                "description": (
                    "The body is compact JSON; cobalt-verification is the lowercase hex HMAC-SHA256 of "
                    "exactly those bytes, keyed with the webhook secret. On a 5xx, a 429 or a connection "
                    "error it is sent once more after 1 s with the same body, id and signature."
                ),
                "security": [],
                "parameters": [
                    _header(
                        "cobalt-verification",
                        {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "HMAC-SHA256 of the raw body, lowercase hex.",
                    ),
                    _header("webhook-id", {"type": "string", "pattern": "^evt_"}, "The payload's id."),
                    _header("webhook-timestamp", _schema("common.timestamp"), "When it was sent."),
                    _header("webhook-attempt", {"type": "integer", "enum": [1, 2]}, "1, then 2 on retry."),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _schema("webhook")}},
                },
                "responses": {
                    "2XX": {"description": "Delivered."},
                    "default": {"description": "Retried once on 5xx or 429; other answers are final."},
                },
            }
        }
    }
