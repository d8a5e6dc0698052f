"""The HTTP API: the Starlette app, its pipeline, handlers, validation, control plane, OpenAPI."""
