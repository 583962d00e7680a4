# Hygie: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test bench bench-serve bench-console screenshots lock clean

# The install also compiles the kernels (setup.py, Cython): a change to one must rebuild.
KERNEL := src/hygie/detect/sigma/kernel.py src/hygie/intel/kernel.py src/hygie/intel/kernel.pxd

$(STAMP): requirements.lock pyproject.toml setup.py $(KERNEL)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests use: Chromium (console browser tests), poppler-utils (pdftotext,
# to read the PDF reports back), slapd + ldap-utils (a real LDAP directory for the response
# connectors' tests) and nftables (nft loads the generated block list in a throw-away network
# namespace). Installed only where missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEBIAN_PACKAGES := chromium poppler-utils slapd ldap-utils nftables
system-deps:
	@command -v chromium >/dev/null 2>&1 && command -v pdftotext >/dev/null 2>&1 && \
	  { command -v slapd || test -x /usr/sbin/slapd; } >/dev/null 2>&1 && \
	  { command -v nft || test -x /usr/sbin/nft; } >/dev/null 2>&1 || \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(DEBIAN_PACKAGES) >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -q >/dev/null && \
	   DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(DEBIAN_PACKAGES) >/dev/null)

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

# The console over 1M events and 100k alerts of 20 hospitals (built once in $TMPDIR, then
# reused): p50/p95 of the overview, the filtered queue, an alert's page and searches.
bench-console: $(STAMP)
	$(BIN)/python benchmarks/console.py

# PNGs of the console's main pages (English and French, laptop and tablet) in screenshots/,
# over the demo data, taken with Debian's Chromium (see system-deps).
screenshots: $(STAMP) system-deps
	$(BIN)/python tools/screenshots.py

# Re-pin dependencies (needs network): writes requirements.lock with hashes.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build src/hygie/detect/sigma/kernel.c src/hygie/detect/sigma/kernel.*.so \
	  src/hygie/intel/kernel.c src/hygie/intel/kernel.*.so
