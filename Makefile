# Two entry points (see README): `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned here, installed before the package: an unpinned `torch` resolved from
# scratch can pull a multi-gigabyte CUDA build. The package itself does not require torch.
TORCH_SPEC ?= torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: setup demo test lint format clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml bench/torchvision_shim.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	@# Real architectures for the calibration zoo and its CI subset, and the
	@# transformers/Lightning examples (config-built, no weights). The registry's
	@# torchvision pins a CUDA torch: install it without deps first, then the extras
	@# (the torch spec rides along so that none can replace the pinned torch), then the
	@# op-schema shim that makes torchvision importable next to the CPU torch
	@# (bench/torchvision_shim.py). The check below fails the set-up if torch changed.
	$(BIN)/python -m pip install -q --no-deps "torchvision==0.28.0"
	$(BIN)/python -m pip install -q -e ".[dev,zoo,lightning,transformers]" "$(TORCH_SPEC)"
	$(BIN)/python bench/torchvision_shim.py install
	$(BIN)/python -c "import sys, torch; want = sys.argv[1].partition('==')[2];\
	  mine = torch.__version__.split('+')[0];\
	  sys.exit(None if want in ('', mine) else f'torch {mine} replaced {sys.argv[1]}')"\
	  "$(TORCH_SPEC)"
	touch $@

demo: setup
	@echo "== nnlint examples/ (source rules) =="
	$(BIN)/nnlint examples/ --statistics --exit-zero
	@echo "== nnlint --fx examples/ (graph rules on the built models) =="
	$(BIN)/nnlint --fx --select NNL6 --exit-zero examples/
	@echo "== pytest --nnhealth examples/ (health verdicts) =="
	@# Exit status 1 means tests failed: here, the deliberately broken examples' lint
	@# item (tests/test_examples_demo.py pins exactly which). Anything else is an error.
	$(BIN)/pytest --nnhealth examples/ -p no:cacheprovider \
	  --nnhealth-report=reports/examples.html; status=$$?; \
	  [ $$status -le 1 ] || exit $$status; \
	  echo "demo done: the failures above are the deliberately broken examples;" \
	    "report: reports/examples.html"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) tests/

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .nnlint_cache
