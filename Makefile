# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint bench clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The engine client (clients/python, its own distribution) first: the service imports it.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -e ./clients/python -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/flask --app wsgi db upgrade
	@HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) sh scripts/run.sh

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
