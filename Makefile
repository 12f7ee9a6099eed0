# Two commands do all set-up on a fresh machine:
#   make run    the whole app on the embedded default (no servers needed)
#   make test   the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SANDBOX_PORT ?= $(shell echo $$(( $(PORT) + 1 )))
DEBUG ?= false
LOCK := requirements.lock

.PHONY: install lock run manage test lint format clean

# Exactly the versions (and file hashes) of the lock, then the project itself on top of them.
# pip installs uv (its locked, hashed entry); uv installs the rest, several times faster.
$(VENV)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p = 1; print; next} p && /^ / {print; next} {p = 0}' $(LOCK) > $(VENV)/uv.txt
	$(VENV)/bin/pip install --quiet --require-hashes --no-deps -r $(VENV)/uv.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --require-hashes --no-deps -r $(LOCK)
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	$(VENV)/bin/uv pip check --quiet --python $(PY)
	@touch $@

install: $(VENV)/.installed

# Re-lock after editing the dependencies in pyproject.toml; pins that still fit are kept.
# `make lock LOCK_ARGS=--upgrade` moves every unpinned (transitive) dependency to its newest release.
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --quiet --custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK)

# The demo stack (apps/demo/stack.py, Procfile.dev): web on PORT, the Harvest sandbox on
# SANDBOX_PORT, a send worker, a sync worker and beat. DEV_TOOLS is on (the demo's commands and
# pages); Django's debug pages only when asked: `make run DEBUG=true`. Ctrl-C, SIGTERM or SIGHUP
# to make, or closing the terminal, stops every process within a few seconds. `exec`: the
# supervisor is make's own child, so it sees make go.
run: install
	@PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) DEBUG=$(DEBUG) DEV_TOOLS=true \
		exec $(PY) manage.py run_stack

# A management command against the local stack's data, as `make run` sees it, e.g.
#   make manage ARGS="greenhouse_check acme"
manage: install
	@PORT=$(PORT) SANDBOX_PORT=$(SANDBOX_PORT) DEBUG=$(DEBUG) DEV_TOOLS=$${DEV_TOOLS:-true} \
		$(PY) manage.py $(ARGS)

test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles
