# The two commands a new user needs: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Keep generated datasets inside the checkout (not in ~/.cache) for the demo and the tests.
export SWIFTSAMPLER_CACHE ?= $(CURDIR)/.cache/swiftsampler

.PHONY: setup demo test docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/swiftsampler demo --out runs/demo

test: setup
	$(BIN)/ruff check --quiet src tests bench examples
	$(BIN)/python -m pytest -q

docs: setup
	$(BIN)/pdoc --output-directory build/api swiftsampler
	@echo "API reference: build/api/index.html"

clean:
	rm -rf runs .cache .pytest_cache
