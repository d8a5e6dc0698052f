"""pytest plugin: the fake as fixtures (being written)."""

from __future__ import annotations
