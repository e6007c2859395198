# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-cluster install lint bench clean

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

# The cluster group (tests/cluster: etcd, three Patroni nodes, two web hosts) is slow and
# needs etcd-server, pgbouncer and PostgreSQL 15's server binaries: its own target.
# Three workers (pytest-xdist) on a 2-core machine: the suite waits on disks, browsers and
# servers often enough that a third overlaps them (11 min against 13 with two, 1,995 tests).
# Each worker gets its own SQLite files and PostgreSQL database.
PYTEST_WORKERS ?= 3
test: install lint
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --ignore=tests/cluster $(PYTEST_ARGS)

# Patroni runs as the postgres user, who cannot read a venv made from a Python under
# /root: it gets its own venv from the system's Python.
PATRONI_PYTHON ?= /usr/bin/python3
var/patroni/bin/patroni:
	$(PATRONI_PYTHON) -m venv var/patroni
	var/patroni/bin/pip install --quiet --disable-pip-version-check 'patroni[etcd3,psycopg3]>=4.0,<5'

test-cluster: install var/patroni/bin/patroni
	$(BIN)/python -m pytest tests/cluster -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
