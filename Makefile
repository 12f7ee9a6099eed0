# Two commands do all set-up on a fresh machine:
#   make run    the whole app on the embedded default (no servers needed)
#   make test   the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: install run test lint format clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

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

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles
