# Hygie: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test bench bench-serve lock clean

# The install also compiles the engine kernel (setup.py, Cython): a change to it must rebuild.
KERNEL := src/hygie/detect/sigma/kernel.py

$(STAMP): requirements.lock pyproject.toml setup.py $(KERNEL)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: Chromium (console browser tests) and poppler-utils
# (pdftotext, to read the PDF reports back). Installed only where missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 || \
	  $(SUDO) apt-get install -y -q chromium poppler-utils >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium poppler-utils >/dev/null)

# `run` starts the monitoring service on the embedded default (SQLite + local spool) with a
# demo tenant, replays the demo data set through its HTTP collector and prints the alerts;
# it keeps serving until Ctrl-C. Rules: Hygie's packs plus any installed by `hygie rules update`.
run: $(STAMP)
	$(BIN)/hygie serve --demo

test: $(STAMP) system-deps
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/hunt.py

# End to end: a real 'hygie serve' process fed over loopback (HTTP + syslog), all SigmaHQ
# Windows rules; throughput and send-to-alert latency (needs ../shared).
bench-serve: $(STAMP)
	$(BIN)/python benchmarks/serve.py

# Re-pin dependencies (needs network): writes requirements.lock with hashes.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build src/hygie/detect/sigma/kernel.c src/hygie/detect/sigma/kernel.*.so
