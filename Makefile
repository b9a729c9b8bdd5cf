# LargeForge - the two commands a newcomer needs:
#   make demo   installs everything, then runs the main job on the embedded default
#   make test   installs everything, then lint + type-check + tests (what CI runs)
.PHONY: install demo test lint typecheck pytest bench docs clean

VENV ?= .venv
BIN := $(VENV)/bin

install:
	@bash scripts/install.sh

demo: install
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest

test: lint typecheck pytest

bench: install
	@for b in bench/[!_]*.py; do echo ">> $$b"; $(BIN)/python $$b || exit 1; done

docs: install
	for ref in hooks cli config; do $(BIN)/python -m lf.docs $$ref > docs/$$ref.md; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
