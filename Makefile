# Two commands do all set-up on a fresh machine:
#   make run    the whole app on the embedded default (no servers needed)
#   make test   the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
LOCK := requirements.lock

.PHONY: install lock run test lint format clean

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

# DEBUG (hence DEV_TOOLS) is on for the whole target: seed_demo and harvest_sandbox are commands of
# the development-only apps, installed only with DEV_TOOLS.
run: install
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	@echo ""
	@echo "  Outreach is starting on http://127.0.0.1:$(PORT)/"
	@echo "  Team admin:    ada / outreach-demo"
	@echo "  Recruiter:     rob / outreach-demo"
	@echo "  Support staff: support / outreach-demo   (Django admin at /admin/)"
	@echo ""
	PATH="$(abspath $(VENV))/bin:$$PATH" DEBUG=$${DEBUG:-true} WEB_PORT=$(PORT) \
		honcho -f Procfile.dev start

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
