"""cobalt-mock's benchmarks. ``python -m bench`` (``make bench``) is the performance suite; see the
README's Performance section. (``bench.reliability`` is the separate reliability suite.)

Each performance cell runs the fake and a bare Starlette app (``bench.bare_app``) as server processes
on the same uvicorn stack, loads them alternately from another process (``wrk``, or ``bench.client``
when wrk is missing), on loopback only and bounded in time and count, and reports the fake as a ratio
to the bare app in the same run. Nothing here decides a test's pass or fail.
"""
