# Every target creates .venv from scratch when it is missing, so a fresh clone needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The suite runs on both cores (pytest-xdist): MXNet runs each operator on one thread here.
TEST_WORKERS ?= 2

.PHONY: demo test bench clean

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

clean:
	rm -rf $(VENV) demo/out benchmarks/out *.egg-info
