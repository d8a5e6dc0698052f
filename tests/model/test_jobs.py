"""Store helpers: the timestamp formats every answer and webhook uses, and job ids."""

from __future__ import annotations

import datetime as dt
import re

from hypothesis import given
from hypothesis import strategies as st

from mock_server.data.ids import iso_millis, iso_seconds, new_id

_MOMENTS = st.datetimes(
    min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 30), timezones=st.timezones()
)


@given(_MOMENTS)
def test_timestamps_are_utc_in_the_documented_forms(moment: dt.datetime) -> None:
    utc = moment.astimezone(dt.UTC)
    assert iso_seconds(moment) == utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso_millis(moment) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def test_ids_have_cobalts_shape_and_do_not_repeat() -> None:
    ids = {new_id("job_") for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"job_[0-9A-Za-z]{22}", job_id) for job_id in ids)
    assert set("".join(ids)) >= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
