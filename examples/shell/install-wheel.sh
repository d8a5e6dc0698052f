.venv/bin/python -m build
python3 -m venv ../wheel-env && ../wheel-env/bin/pip install dist/cobalt_mock-*.whl
../wheel-env/bin/cobalt-mock --version
