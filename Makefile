# tformance: the commands the README names.
#   make demo   set up everything, seed a demo team of 50 members, serve it
#   make test   set up everything, run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_SEED_ARGS ?= --teams 1 --members 50 --prs-per-member 20 --days 90
# make demo also serves the loopback GitHub stand-in (manage.py github_standin) for "Create a team"
DEMO_GITHUB_PORT ?= 8765
DEMO_GITHUB_ORG ?= acme
DEMO_GITHUB_TOKEN ?= demo_token

.PHONY: help install lock demo serve serve-prod test unit-tests notebook-tests lint stop servers shell lab notebooks report bench load query-records

help:
	@echo "make demo    - install, start embedded servers, migrate, seed 50 members, serve on http://$(HOST):$(PORT)/"
	@echo "              with the GitHub stand-in on :$(DEMO_GITHUB_PORT) (organisation $(DEMO_GITHUB_ORG), token $(DEMO_GITHUB_TOKEN))"
	@echo "make test    - install and run the whole test suite"
	@echo "make lock    - regenerate requirements/lock.txt (pinned, hashed) after changing pyproject.toml"
	@echo "make stop    - stop the embedded PostgreSQL and Redis"
	@echo "make serve-prod - the production command (bin/serve-production: gunicorn) on the embedded servers, on http://$(HOST):$(PORT)/"
	@echo "make lint    - ruff"
	@echo "make lab     - JupyterLab on the tformance kernel (Django shell-plus), in notebooks/"
	@echo "make notebooks - re-execute every notebook in place (outputs are committed)"
	@echo "make report  - perf_bench --quick, execute every notebook, write reports/index.html"
	@echo "make bench   - perf_bench at the default size (50 teams x 200 members, 1M PRs)"
	@echo "make load    - load_test: gunicorn on loopback, 200 members, 1/4/16 clients; writes reports/load.json"
	@echo "make query-records - regenerate tests/query_records/ (every view's statements) after a deliberate change"

# Every package comes from requirements/lock.txt, pinned with its hashes (the versions CI tested, so that a
# fresh machine's notebooks print what the committed outputs say), then this project itself, editable, with
# nothing more: --no-deps, and setuptools (its build backend) from the lock, not fetched unpinned.
LOCK := requirements/lock.txt

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Regenerates requirements/lock.txt after pyproject.toml changes: the dependencies with the dev and lab extras,
# plus requirements/build.in, resolved by uv for the venv's Python 3.11 on this platform (Linux x86_64). uv keeps
# the versions already in the lock where the ranges allow; LOCK_ARGS=--upgrade takes the newest of everything,
# LOCK_ARGS="--upgrade-package pandas" of one package. Then make install.
LOCK_ARGS ?=

lock:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile --quiet pyproject.toml requirements/build.in --extra dev --extra lab --generate-hashes \
	  --python $(BIN)/python --custom-compile-command "make lock" --output-file $(LOCK) $(LOCK_ARGS)

# The lab's kernelspec (tformance/jupyter_kernel.py): re-installed when that module changes,
# and installed into an existing venv too (it does not wait for pyproject.toml to change).
KERNEL := $(VENV)/share/jupyter/kernels/tformance/kernel.json

$(KERNEL): $(STAMP) tformance/jupyter_kernel.py
	$(BIN)/python -m tformance.jupyter_kernel install

# The dashboard's front-end libraries (Chart.js) from the npm registry, as package-lock.json pins them:
# `npm ci` again only when package.json or the lockfile changes, then the browser build copied into a
# git-ignored static folder that Django serves (runserver, collectstatic, WhiteNoise): no CDN.
NPM ?= npm
NPM_STAMP := node_modules/.installed
VENDOR := apps/metrics/static/vendor
CHARTJS := $(VENDOR)/chartjs/chart.umd.min.js

$(NPM_STAMP): package.json package-lock.json
	@command -v $(NPM) >/dev/null 2>&1 || { echo "make install needs Node.js with npm (for the dashboard's Chart.js):" \
	  "'$(NPM)' is not on PATH. Install Node.js 18+ with npm (https://nodejs.org/, or apt-get install nodejs npm)." >&2; exit 1; }
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

$(CHARTJS): $(NPM_STAMP)
	@mkdir -p $(dir $(CHARTJS))
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map \
	  node_modules/chart.js/LICENSE.md $(dir $(CHARTJS))

install: $(STAMP) $(KERNEL) $(CHARTJS)

servers: install
	$(BIN)/python -m tformance.embedded start

demo: install
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py seed_demo $(DEMO_SEED_ARGS) --skip-existing
	@# The stand-in in the background (log: .tformance/github-standin.log), stopped when this recipe ends.
	@# No Celery worker here: tasks run eagerly, in the web server ("Sync now" syncs in the request).
	@mkdir -p .tformance; \
	PYTHONUNBUFFERED=1 $(BIN)/python manage.py github_standin --port $(DEMO_GITHUB_PORT) --org $(DEMO_GITHUB_ORG) \
	  --token $(DEMO_GITHUB_TOKEN) > .tformance/github-standin.log 2>&1 & standin=$$!; \
	trap 'kill $$standin 2>/dev/null; wait $$standin 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	for _ in $$(seq 100); do \
	  grep -q "GitHub stand-in on" .tformance/github-standin.log && break; \
	  kill -0 $$standin 2>/dev/null || { cat .tformance/github-standin.log; \
	    echo "The GitHub stand-in did not start (port $(DEMO_GITHUB_PORT) busy? make demo DEMO_GITHUB_PORT=...)"; exit 1; }; \
	  sleep 0.2; \
	done; \
	echo "GitHub stand-in on http://127.0.0.1:$(DEMO_GITHUB_PORT)/: to connect a team, log in, Create a team,"; \
	echo "  organisation $(DEMO_GITHUB_ORG), token $(DEMO_GITHUB_TOKEN); then List from GitHub, track, Sync now."; \
	echo "Serving on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)  -- Ctrl-C to stop"; \
	GITHUB_API_URL=http://127.0.0.1:$(DEMO_GITHUB_PORT) CELERY_TASK_ALWAYS_EAGER=true \
	  $(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: install
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# Production mode for trying it out: bin/serve-production (migrations, collectstatic, gunicorn) with
# DJANGO_DEBUG=false against the embedded servers, their URLs passed explicitly (production never starts
# them itself), a strong SECRET_KEY kept in .tformance/secret_key (git-ignored, made once), plain HTTP on
# loopback (no HTTPS redirect, cookies not Secure). Migrations are applied on start unless SERVE_PROD_MIGRATE=false.
SERVE_PROD_MIGRATE ?= true

serve-prod: install
	@$(BIN)/python -m tformance.embedded start >/dev/null
	@secret="$$($(BIN)/python -c 'from tformance import embedded; print(embedded.state_dir() / "secret_key")')"; \
	test -s "$$secret" || (umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > "$$secret"); \
	database_url="$$($(BIN)/python -c 'from tformance import embedded; print(embedded.postgres_url())')"; \
	redis_url="$$($(BIN)/python -c 'from tformance import embedded; print(embedded.redis_url())')"; \
	echo "Production mode on http://$(HOST):$(PORT)/ (gunicorn, DJANGO_DEBUG=false; health: /healthz, /readyz) -- Ctrl-C to stop"; \
	DJANGO_DEBUG=false SECRET_KEY="$$(cat "$$secret")" ALLOWED_HOSTS=127.0.0.1,localhost \
	  DATABASE_URL="$$database_url" REDIS_URL="$$redis_url" \
	  SECURE_SSL_REDIRECT=false SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false \
	  TFORMANCE_MIGRATE_ON_START=$(SERVE_PROD_MIGRATE) GUNICORN_BIND=$(HOST):$(PORT) bin/serve-production

lint: install
	$(BIN)/ruff check .

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg -p no:cacheprovider

# The unit tests and the notebooks use databases and cache keys of their own and neither fills both
# cores alone: they run side by side (each line of output whole, prefixed by its file).
test: install lint
	@$(MAKE) --no-print-directory -j2 --output-sync=line unit-tests notebook-tests

unit-tests: install
	$(BIN)/pytest

NOTEBOOKS ?= notebooks  # or a list of .ipynb files

notebook-tests: install
	@if ls notebooks/*.ipynb >/dev/null 2>&1; then $(BIN)/pytest $(NBVAL) $(NOTEBOOKS); else echo "no notebooks yet"; fi

# JupyterLab in notebooks/, new notebooks on the tformance kernel (Django set up, shell_plus imports),
# kernel traffic encrypted (CurveZMQ) where the kernelspec supports it.
LAB_ARGS = --notebook-dir notebooks --ip 127.0.0.1 --no-browser \
	--MappingKernelManager.default_kernel_name=tformance --MappingKernelManager.transport_encryption=auto \
	$(if $(filter 0,$(shell id -u)),--allow-root)

lab: install
	$(BIN)/python manage.py migrate --no-input  # a fresh notebook queries the development database
	$(BIN)/jupyter lab $(LAB_ARGS)

notebooks: install
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --KernelManager.transport_encryption=auto \
		notebooks/[0-9]*.ipynb

report: install
	$(BIN)/python manage.py perf_bench --quick --gate statements
	$(BIN)/python manage.py build_report

bench: install
	$(BIN)/python manage.py perf_bench

load: install
	$(BIN)/python manage.py load_test

query-records: install
	$(BIN)/python manage.py query_records --update

shell: install
	$(BIN)/python manage.py shell_plus

stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m tformance.embedded stop; else echo "nothing installed, nothing running"; fi
