python3 -m venv .venv && . .venv/bin/activate
pip install "cobalt-mock @ git+https://github.com/cobalt-mock/cobalt-mock"
