# The control API of a fake on http://127.0.0.1:8765: plain HTTP under /_mock/.
auth=(-H 'client_id: ci_test' -H 'client_secret: cs_test' -H 'access_token: clinic-b')
fetch() { curl -s http://127.0.0.1:8765/v1/appointments/fetch "${auth[@]}" -H 'content-type: application/json' "$@"; }

curl -s -X POST http://127.0.0.1:8765/_mock/reset -d '{"access_token": "clinic-b"}'; echo

# Hold new jobs, fetch, see the job held, then finish it now.
curl -s -X POST http://127.0.0.1:8765/_mock/jobs/hold; echo
job_id=$(fetch -d '{"search_by": "mrn", "mrn": "10023"}' | sed -E 's/.*"job_id":"([^"]+)".*/\1/')
curl -s "http://127.0.0.1:8765/_mock/jobs?access_token=clinic-b&status=held" | head -c 200; echo
curl -s -X POST "http://127.0.0.1:8765/_mock/jobs/$job_id/complete" | head -c 200; echo
curl -s -X POST http://127.0.0.1:8765/_mock/jobs/release; echo

# A scenario: the next MRN fetch of clinic-b fails in the EHR.
curl -s -X POST http://127.0.0.1:8765/_mock/scenarios -H 'content-type: application/json' \
  -d '{"behaviour": "ehr_failure", "match": {"access_token": "clinic-b", "search_by": "mrn"}, "times": 1}'; echo
fetch -d '{"search_by": "mrn", "mrn": "10457"}'; echo

# The same behaviours from magic values, for clients you cannot change: an MRN, or a header.
fetch -d '{"search_by": "mrn", "mrn": "mock-empty"}'; echo
fetch -H 'X-Cobalt-Mock-Scenario: api_429=5' -d '{"start_date": "2025-01-06", "end_date": "2025-01-06"}'; echo

# The journal: every request and delivery attempt, secrets redacted.
curl -s "http://127.0.0.1:8765/_mock/requests?access_token=clinic-b&kind=request" | head -c 300; echo
