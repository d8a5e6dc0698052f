cobalt-mock serve --delay 0 > cobalt-mock.log 2>&1 &
timeout 30 sh -c 'until curl -sf http://127.0.0.1:8765/_mock/health; do sleep 0.2; done'
curl -s http://127.0.0.1:8765/v1/appointments/fetch -H 'content-type: application/json' \
  -H 'client_id: ci' -H 'client_secret: cs' -H 'access_token: ci-run' -d '{"search_by": "mrn", "mrn": "10023"}'
