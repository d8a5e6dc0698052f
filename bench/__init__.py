"""cobalt-mock's benchmark suite: ``make bench`` (``python -m bench``); see the README's Performance section.

Every cell runs the fake and a bare Starlette app (``bench.bare_app``) as separate server processes on
the same uvicorn configuration, loads them alternately from a separate process (``wrk``, or
``bench.client`` when wrk is missing), on loopback only, bounded in time and count, and reports the
fake as a ratio to the bare app measured in the same run. Nothing here decides a test's pass or fail.
"""
