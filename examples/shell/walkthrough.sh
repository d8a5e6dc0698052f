# Against a fake on http://127.0.0.1:8765 (cobalt-mock serve); any non-empty credentials are accepted.
auth=(-H 'client_id: ci_test' -H 'client_secret: cs_test' -H 'access_token: clinic-a')

# 1. Ask for a week of appointments: a 202 with the job's id, at once.
accepted=$(curl -s http://127.0.0.1:8765/v1/appointments/fetch "${auth[@]}" \
  -H 'content-type: application/json' -d '{"start_date": "2025-01-06", "end_date": "2025-01-12"}')
echo "$accepted"
job_id=$(echo "$accepted" | sed -E 's/.*"job_id":"([^"]+)".*/\1/')

# 2. No webhook endpoint? Poll, as Cobalt documents: about once a second until the event is there.
until curl -s "http://127.0.0.1:8765/v1/webhook-events?job_id=$job_id" "${auth[@]}" | grep -q '"event_id"'; do
  sleep 1
done
curl -s "http://127.0.0.1:8765/v1/webhook-events?job_id=$job_id" "${auth[@]}" | head -c 300; echo

# 3. The fetched week is now in the cache that GET /v1/appointments reads (a name, in part, any case).
curl -s 'http://127.0.0.1:8765/v1/appointments?start_date=2025-01-06&end_date=2025-01-12&patient_name=smi' \
  "${auth[@]}" | head -c 300; echo

# 4. A rule broken: more than 7 days is Cobalt's 400, word for word.
curl -s http://127.0.0.1:8765/v1/appointments/fetch "${auth[@]}" \
  -H 'content-type: application/json' -d '{"start_date": "2025-01-01", "end_date": "2025-01-08"}'; echo
