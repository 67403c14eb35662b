# make demo: the whole pipeline on a generated library; make test: the test suite;
# make bench BENCH_ARGS="run=[sampler] quick=true": the speed benchmarks.
# Each creates .venv and installs the package (pinned torch: see README, "Install").
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= disabled
export PYTHONUNBUFFERED := 1

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,onnx]"
	touch $@

.PHONY: install test test-slow demo lint bench
install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

demo: $(VENV)/.installed
	$(PY) -m introdet.demo.run $(DEMO_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check introdet tests train.py predict.py benchmarks
	$(VENV)/bin/lint-imports

bench: $(VENV)/.installed
	$(PY) benchmarks/bench.py $(BENCH_ARGS)
