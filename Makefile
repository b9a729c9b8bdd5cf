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

# Tests with line coverage (pytest-cov; settings in pyproject.toml), then coverage per package:
# fails when the tests fail or a figure is under its floor (the table is printed either way).
pytest: install
	@$(BIN)/pytest --cov --cov-report= --cov-fail-under=0; status=$$?; \
	$(BIN)/python scripts/coverage_report.py && exit $$status

test: lint typecheck pytest

bench: install
	@for b in bench/[!_]*.py; do echo ">> $$b"; $(BIN)/python $$b || exit 1; done

docs: install
	for ref in hooks cli config; do $(BIN)/python -m lf.docs $$ref > docs/$$ref.md; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
