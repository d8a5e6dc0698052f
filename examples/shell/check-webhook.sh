. .venv/bin/activate
cobalt-mock check-webhook fixtures/webhook-mrn/valid-documented.json
secret=whsec_cobalt_mock_0123456789abcdef
signature=$(openssl dgst -sha256 -hmac "$secret" -r fixtures/webhook-mrn/valid-documented.json | cut -d' ' -f1)
cobalt-mock check-webhook fixtures/webhook-mrn/valid-documented.json --secret "$secret" --signature "$signature"
