# Hygie: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lock clean

# The install also compiles the engine kernel (setup.py, Cython): a change to it must rebuild.
KERNEL := src/hygie/detect/sigma/kernel.py

$(STAMP): requirements.lock pyproject.toml setup.py $(KERNEL)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Until the monitoring service exists, `run` hunts the shipped demo data set with Hygie's
# own rule packs (plus any rules installed with `hygie rules update`).
run: $(STAMP)
	$(BIN)/hygie hunt src/hygie/demo/hospital_morning.jsonl --min-level medium

test: $(STAMP)
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/hunt.py

# Re-pin dependencies (needs network): writes requirements.lock with hashes.
lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build src/hygie/detect/sigma/kernel.c src/hygie/detect/sigma/kernel.*.so
