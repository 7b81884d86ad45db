# The two commands of the README: `make lab` (set up, open the course) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: lab test setup release check-release lint bench clean

$(BIN)/autograder: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(BIN)/autograder

setup: $(BIN)/autograder

lab: setup  ## set everything up and open the course in JupyterLab
	$(BIN)/autograder lab

test: setup  ## set everything up and run the test suite (quick profile)
	COURSE_PROFILE=quick $(BIN)/python -m pytest -n $${PYTEST_WORKERS:-auto} --dist loadgroup

release: setup
	$(BIN)/autograder release

check-release: setup
	$(BIN)/autograder release --check

lint: setup  ## what CI checks besides the tests: lint, format and types
	$(BIN)/ruff check autograder course tests benchmarks
	$(BIN)/ruff format --check autograder course
	$(BIN)/mypy autograder course

bench: setup
	$(BIN)/python benchmarks/grading_throughput.py

clean:
	rm -rf $(VENV)
