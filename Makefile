# Celeriac developer tasks. Needs only python3 on PATH (and make).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Stamps record which requirements the virtualenv was last installed from.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP := $(VENV)/.installed-dev
PYTEST_ARGS ?=
SOAK_MINUTES ?= 10
FAST_TESTS := not (workers or faults or browser or soak)

.PHONY: help venv dev-venv run test test-fast chromium rabbitmq-server migrate bench soak screenshots clean

help:
	@echo "make run      create .venv, migrate, create an admin operator, seed demo data, start web+worker+io+beat+sandbox"
	@echo "make test     install the test requirements (and Debian chromium and rabbitmq-server if missing) and run pytest"
	@echo "              (pass options with PYTEST_ARGS='-k name -x')"
	@echo "make test-fast  run the tests without workers, faults, a browser or the soak (under a minute)"
	@echo "make venv     create .venv and install requirements.txt (again only when it changes)"
	@echo "make migrate  apply database migrations (flask db upgrade)"
	@echo "make bench    print the benchmark table (BENCH_ONLY=overhead,io,ingest,pages,launch,viewers,fairness,recovery;"
	@echo "              BENCH_BROKERS=redis,rabbitmq for items 1, 2, 7-9, RabbitMQ at BENCH_RABBITMQ_URL)"
	@echo "make lint     ruff check and ruff format --check over the Python code (settings in ruff.toml)"
	@echo "make screenshots  run the console privately and write docs/screenshots/*.png (1366x900, chromium)"
	@echo "make soak     jobs under SIGKILLs and Redis/PostgreSQL restarts for SOAK_MINUTES (default 10), then the ledger"
	@echo "make clean    remove .venv, caches and test artifacts (instance/ with its data is kept)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(RUNTIME_STAMP)

dev-venv: $(RUNTIME_STAMP) $(DEV_STAMP)

run: venv
	$(BIN)/python scripts/run_local.py

# The browser tests drive Debian's chromium through Playwright.
chromium:
	@if [ -x /usr/bin/chromium ]; then \
		:; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "chromium: /usr/bin/chromium is missing and we are not root; skipping its installation."; \
		echo "chromium: install it with 'sudo apt-get install chromium' to run the browser tests."; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: /usr/bin/chromium is missing and there is no apt-get; install chromium to run the browser tests."; \
	else \
		echo "chromium: installing Debian's chromium package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The tests run the workflows on RabbitMQ too: on RABBITMQ_URL, else on a private node of Debian's rabbitmq-server.
rabbitmq-server:
	@if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" != 0 ]; then \
		echo "rabbitmq-server: it is missing and we are not root; skipping its installation."; \
		echo "rabbitmq-server: install it with 'sudo apt-get install rabbitmq-server' (or set RABBITMQ_URL) to run the RabbitMQ tests."; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
		echo "rabbitmq-server: it is missing and there is no apt-get; install RabbitMQ (or set RABBITMQ_URL) to run the RabbitMQ tests."; \
	else \
		echo "rabbitmq-server: installing Debian's rabbitmq-server package"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null; \
	fi

test: dev-venv chromium rabbitmq-server
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The markers come from the fixtures a test uses (tests/conftest.py); pytest.ini describes them.
test-fast: dev-venv
	$(BIN)/python -m pytest -m "$(FAST_TESTS)" $(PYTEST_ARGS)

# Migrations sign and fetch nothing: placeholders satisfy the start-up checks of SECRET_KEY and ERP_API_URL.
migrate: venv
	SECRET_KEY="$${SECRET_KEY:-placeholder-for-migrations}" ERP_API_URL="$${ERP_API_URL:-http://127.0.0.1:5001/sandbox/api}" $(BIN)/python -m flask --app wsgi db upgrade

bench: dev-venv
	$(BIN)/python scripts/bench.py

# Private PostgreSQL and Redis are started by the script itself (initdb must be installed).
soak: dev-venv
	$(BIN)/python scripts/soak.py --minutes $(SOAK_MINUTES)

# The README's pictures: the console run as `make run` runs it, on a private database and Redis.
screenshots: dev-venv chromium
	$(BIN)/python scripts/screenshots.py

# Every Python file of the project but .venv and migrations/ (Alembic's, excluded in ruff.toml).
.PHONY: lint
lint: dev-venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
	find . -name __pycache__ -type d -prune -not -path './.git/*' -exec rm -rf {} +
