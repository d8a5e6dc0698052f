"""Generation cost: appointments per second for a busy clinic's week, as a completing job makes them.

The clinic is the first access token (``bench-clinic-0``, ``-1``, ...) whose roster has 10 providers,
at seed 0. Each round generates a different week of 2025 onward (so no per-day cache helps) through
``payloads.build_data``, the job's own path (the cached appointments and the webhook's projection),
then serializes and signs the event as delivery does. Times are CPU time of this process (the
generator is single-threaded), so other load on the machine slows it less. Prints one JSON object.
``python -m bench.generation --seconds 2``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import orjson

from mock_server.data import roster
from mock_server.delivery.webhook import envelope, result_for, serialize, sign
from mock_server.model.jobs import FetchRequest, Job

PROVIDERS = 10
FIRST_MONDAY = dt.date(2025, 1, 6)


def busy_clinic() -> roster.Clinic:
    for n in range(1000):
        clinic = roster.clinic_for(0, f"bench-clinic-{n}")
        if len(clinic.providers) == PROVIDERS:
            return clinic
    raise RuntimeError("no 10-provider clinic among the first 1000 tokens")


def measure(seconds: float) -> dict[str, object]:
    clinic = busy_clinic()
    weeks = appointments = 0
    generating = publishing = 0.0
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        start = FIRST_MONDAY + dt.timedelta(days=7 * weeks)
        request = FetchRequest("date_range", start, start + dt.timedelta(days=6))
        job = Job("job_bench", clinic.access_token, "user_bench", request, dt.datetime.now(dt.UTC), 0.0)
        began = time.process_time()
        data, cached = result_for(job, 0, None)  # the clinic of seed 0 and its token, made once
        generated = time.process_time()
        body = serialize(envelope(job, data, dt.datetime.now(dt.UTC)))
        sign("whsec_bench", body)
        publishing += time.process_time() - generated
        generating += generated - began
        weeks += 1
        appointments += len(cached)
    return {
        "clinic": clinic.access_token,
        "providers": len(clinic.providers),
        "weeks": weeks,
        "appointments_per_week": appointments / weeks,
        "appointments_per_s": appointments / generating,
        "week_ms": 1000 * generating / weeks,
        "serialize_sign_ms": 1000 * publishing / weeks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    print(orjson.dumps(measure(args.seconds)).decode(), flush=True)


if __name__ == "__main__":
    main()
