. .venv/bin/activate
cobalt-mock receive --port 9000 &
cobalt-mock serve --delay 1 --webhook-url http://127.0.0.1:9000/webhooks/cobalt &
until curl -sf http://127.0.0.1:8765/_mock/health; do sleep 0.2; done; echo
curl -s http://127.0.0.1:8765/v1/appointments/fetch -H 'content-type: application/json' \
  -H 'client_id: ci_test' -H 'client_secret: cs_test' -H 'access_token: clinic-a' \
  -d '{"start_date": "2025-01-06", "end_date": "2025-01-12"}'; echo
