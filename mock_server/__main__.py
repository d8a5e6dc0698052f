"""``python -m mock_server``: the same as the ``cobalt-mock`` command."""

from __future__ import annotations

import sys

from mock_server.cli import main

if __name__ == "__main__":  # pragma: no branch
    sys.exit(main())
