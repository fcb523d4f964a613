# Every target creates .venv from scratch when it is missing, so a fresh clone needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The suite runs on both cores (pytest-xdist): MXNet runs each operator on one thread here.
TEST_WORKERS ?= 2

.PHONY: demo test bench docs notebooks lint clean

$(VENV)/.installed: setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(PY) -m accelbrainbase.demo

test: $(VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(PY) -m benchmarks

# The site (API reference, README guide, design, notebooks with their stored outputs) into
# docs/_build/html; offline, any warning fails it. -E: the API tables follow the modules' __all__.
docs: $(VENV)/.installed
	$(PY) -m sphinx -E -W --keep-going -b html docs docs/_build/html
	@echo "open docs/_build/html/index.html"

# Re-executes every demo/*.ipynb at its full settings and stores it with its outputs (figures included).
notebooks: $(VENV)/.installed
	$(PY) demo/execute_notebooks.py

# Style (ruff: ruff.toml) and types (mypy: mypy.ini); CI runs it before the tests.
lint: $(VENV)/.installed
	$(PY) -m ruff check accelbrainbase tests benchmarks demo docs
	$(PY) -m mypy

clean:
	rm -rf $(VENV) demo/out benchmarks/out *.egg-info docs/_build docs/api/generated docs/notebooks
