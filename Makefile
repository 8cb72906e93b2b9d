# Switchboard: `make run` serves the demo on http://127.0.0.1:8080, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
SERVICES := deploy/local/services.sh
ENV = eval "$$(bash $(SERVICES) env)"
PYTEST_ARGS ?=

.PHONY: setup services run test stop lint bench clean

setup: $(VENV)/.installed web/node_modules/.installed services

$(VENV)/.installed: pyproject.toml
	bash deploy/local/bootstrap.sh python
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

web/node_modules/.installed: web/package.json
	bash deploy/local/bootstrap.sh node
	cd web && npm install --no-audit --no-fund --loglevel=error
	touch $@

services:
	bash $(SERVICES) start

run: setup
	$(ENV) && $(VENV)/bin/switchboard migrate && $(VENV)/bin/switchboard seed-demo && exec $(VENV)/bin/switchboard serve

test: $(VENV)/.installed web/node_modules/.installed
	bash deploy/local/bootstrap.sh browser
	bash deploy/local/bootstrap.sh nginx
	SWITCHBOARD_PG_FAST=1 bash $(SERVICES) start
	$(ENV) && $(VENV)/bin/pytest -q $(PYTEST_ARGS)

stop:
	bash $(SERVICES) stop

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy agents queues routing licensing web channels customers switchboard

bench: setup
	$(ENV) && $(VENV)/bin/python -m bench.run

clean: stop
	rm -rf .run $(VENV) web/node_modules
