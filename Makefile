# captum-iterative: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo demo-full test lint bench clean retina-demo

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The quick run (8 synthetic images, guided backpropagation and Grad-CAM, under a minute on 2
# cores); `make demo-full` runs the example's full default (16 images, Table I's five methods).
demo: $(STAMP)
	$(PY) examples/fundus_dr.py --quick --out out/demo

demo-full: $(STAMP)
	$(PY) examples/fundus_dr.py --out out/demo_full

retina-demo: $(STAMP)
	$(PY) examples/demo_retina.py --out out/retina_demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --durations=15

LINTED := captum_iterative tests examples benchmarks scripts docs/scripts

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

# The benchmark list is the one of `captum-iterative bench` (captum_iterative/cli/bench.py).
bench: $(STAMP)
	$(PY) -m captum_iterative bench --out out/bench.json
	$(PY) benchmarks/make_performance_doc.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
