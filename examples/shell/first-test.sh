. .venv/bin/activate
pytest test_first.py
