"""The fake's state and rules: jobs, store, scenarios, faults, journal (no Starlette, no sockets)."""
