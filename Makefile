# Two commands on a fresh Debian machine with Python 3.11: `make demo` and `make test`.
# Each sets up everything it needs (virtual environment, packages, the libusb system library
# that open3d loads) and then runs.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "nmc needs Python 3.11 (found $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	@$(PY) -c 'import open3d' 2>/dev/null || sh tools/install_system_deps.sh
	$(PY) -c 'import open3d, compressai, torch_geometric, av; print("nmc environment ready")'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/nmc demo

test: setup
	$(PY) -m pytest -q -n 2

test-slow: setup
	$(PY) -m pytest -q -m slow

lint: setup
	$(VENV)/bin/ruff check nmc tests tools
	$(VENV)/bin/ruff format --check nmc tests tools

format: setup
	$(VENV)/bin/ruff format nmc tests tools

clean:
	rm -rf $(VENV) build *.egg-info
