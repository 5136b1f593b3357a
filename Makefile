# Every target creates the venv and installs the pinned deps when missing.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The venv's Python: the newest python3 >= 3.11 on PATH (python3.13, 3.12, 3.11, then python3),
# or the one given as PYTHON=... (PY=... still works). A name that is on PATH but does not run
# (a pyenv shim of a version not selected) or is too old is passed over.
PY_OK := import sys; sys.exit(sys.version_info < (3, 11))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(or $(PY),$(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c '$(PY_OK)' >/dev/null 2>&1 && { echo $$p; break; }; done))
endif
NEED_PYTHON = \
	if [ -z "$(PYTHON)" ]; then \
		echo "no Python >= 3.11 on PATH (tried python3.13, python3.12, python3.11, python3):"; \
		echo "install one (Debian/Ubuntu: apt-get install python3 python3-venv) or run make PYTHON=/path/to/python3.x"; \
		exit 1; \
	fi; \
	$(PYTHON) -c '$(PY_OK)' >/dev/null 2>&1 || { \
		echo "$(PYTHON) is not a working Python >= 3.11: run make PYTHON=/path/to/python3.x"; exit 1; }

.PHONY: demo test lint typecheck pytest dovecot-deps bench bench-deps bench-compare run check clean python

# Which Python the venv is (or would be) made with.
python:
	@$(NEED_PYTHON); echo "$(PYTHON) ($$($(PYTHON) --version 2>&1))"

$(STAMP): requirements.txt requirements-dev.txt
	@$(NEED_PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python main.py demo

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy .

# The suite in 4 worker processes (pytest-xdist): much of its time is spent waiting on the
# subprocesses of the end-to-end tests, so 4 pay on 2 cores. tests/conftest.py keeps a module
# with a costly module-scoped fixture on one worker. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 4
pytest: $(STAMP) dovecot-deps
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The IMAP tests run a private Dovecot (tests/fakes/dovecot.py) on a loopback port; the
# system service must stay off: policy-rc.d forbids starting it during the install (an
# existing policy is left alone), and where systemd runs it is disabled and stopped.
dovecot-deps:
	@test -x /usr/sbin/dovecot || { \
		test "$$(id -u)" = 0 || { echo "the IMAP tests need dovecot-imapd: apt-get install dovecot-imapd (as root)"; exit 1; }; \
		policy=/usr/sbin/policy-rc.d; ours=; \
		if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' > $$policy; chmod +x $$policy; ours=1; fi; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y dovecot-imapd; status=$$?; \
		if [ -n "$$ours" ]; then rm -f $$policy; fi; \
		if [ -d /run/systemd/system ]; then systemctl disable --now dovecot.service dovecot.socket || true; fi; \
		exit $$status; }

# The baselines need Debian's sqlite3 CLI and Postfix's smtp-sink (the daemon is not set up);
# bench_inbox.py reads a private Dovecot (dovecot-deps).
bench-deps:
	command -v sqlite3 >/dev/null || { apt-get update && apt-get install -y sqlite3; }
	command -v /usr/sbin/smtp-sink >/dev/null || { echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postfix; }

bench: $(STAMP) bench-deps dovecot-deps
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Side by side with an earlier revision, alternating in one run (a refactor against the commit
# before it): make bench-compare BASE=HEAD~1 [ROUNDS=3] [ONLY=send,import,status]
bench-compare: $(STAMP) bench-deps
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=rev [ROUNDS=3] [ONLY=send,import,status]"; exit 1; }
	$(BIN)/python bench/side_by_side.py --base $(BASE) $(if $(ROUNDS),--rounds $(ROUNDS)) $(if $(ONLY),--only $(ONLY))

run: $(STAMP)
	$(BIN)/python main.py

# Without OUTREACH_CONFIG: check the example config with the placeholder secrets of
# .env.example. With it (make check OUTREACH_CONFIG=outreach.toml): check that file, with
# secrets from the environment and .env only.
check: $(STAMP)
	@if [ -n "$${OUTREACH_CONFIG:-}" ]; then \
		$(BIN)/python main.py check; \
	else \
		set -a; . ./.env.example; set +a; \
		$(BIN)/python main.py check --config outreach.example.toml; \
	fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
