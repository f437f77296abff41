# Linli: `make run` serves the demo on http://127.0.0.1:8000, `make test` runs the whole suite.
# Both do every set-up step first and skip what is already done.
SHELL := /bin/bash
.DEFAULT_GOAL := run

PGPORT ?= 54329
HOST ?= 127.0.0.1
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := .stamps

export PGPORT
export DATABASE_URL ?= postgis://linli@127.0.0.1:$(PGPORT)/linli
export DEBUG ?= true
export SECRET_KEY ?= dev-only-not-secret-linli-local-cluster
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup system db stop migrate demo lint format bench bench-quick lock reset-db backup restore fuzz shell

## The two commands ##########################################################

run: setup demo  ## serve the demo district on http://$(HOST):$(PORT)
	@echo "Linli on http://$(HOST):$(PORT)  (Ctrl-C to stop; 'make stop' stops the database)"
	$(PY) manage.py runserver $(HOST):$(PORT)

PYTEST_WORKERS ?= 2
test: setup  ## run the whole test suite against the local PostGIS (PYTEST_WORKERS processes)
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

## Set-up steps ###############################################################

setup: system $(STAMPS)/venv $(STAMPS)/npm $(STAMPS)/messages $(STAMPS)/static db migrate

system:
	@bash scripts/setup-system.sh

$(STAMPS)/venv: pyproject.toml requirements.lock
	@mkdir -p $(STAMPS)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/messages: $(shell find apps -name '*.po') $(STAMPS)/venv
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules -v 0
	@touch $@

$(STAMPS)/static: $(shell find apps -path '*/static/*' -type f) $(STAMPS)/npm $(STAMPS)/venv
	$(PY) manage.py collectstatic --no-input -v 0
	@touch $@

db:
	@bash scripts/pg.sh start

stop:  ## stop the local PostGIS cluster
	@bash scripts/pg.sh stop

migrate: db $(STAMPS)/venv
	@$(PY) manage.py migrate --no-input -v 0

demo: migrate  ## load the demo district once (seed_demo skips a database that has one)
	@$(PY) manage.py seed_demo --if-empty

## Developer tools ############################################################

lint: $(STAMPS)/venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: $(STAMPS)/venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup  ## full benchmark suite (long: builds a city and a megacity)
	$(PY) -m bench all

bench-quick: setup  ## benchmarks on the demo and a small city, a few minutes
	$(PY) -m bench quick

fuzz: setup  ## fuzz the HTTP API from its OpenAPI schema (schemathesis); FUZZ_SECONDS=300
	$(PY) -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev,fuzz]'
	$(PY) bench/fuzz.py

lock: $(STAMPS)/venv  ## refresh requirements.lock from the installed environment
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,fuzz]'
	{ head -n 2 requirements.lock; $(PY) -m pip freeze --exclude-editable | grep -v '^linli'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

backup: db  ## dump the local database to backups/ (FILE=... to choose)
	@bash scripts/backup.sh backup $(FILE)

restore: db  ## restore FILE=backups/....dump into a fresh database and swap it in (the old one is kept)
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/linli-....dump"; exit 2; }
	@bash scripts/backup.sh restore $(FILE)

reset-db: db $(STAMPS)/venv  ## drop the local database and load the demo again
	$(PY) manage.py reset_db_for_demo --yes
	$(MAKE) demo

shell: setup
	$(PY) manage.py shell
