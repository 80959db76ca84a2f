# Everything a fresh machine needs: Python 3.11+ with venv. `make up` runs the system, `make test` the tests.
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed
# The dashboard's browser test drives Debian's headless Chromium through its ChromeDriver (no browser download).
BROWSER := /usr/bin/chromedriver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: up test bench bench-wave bench-steady clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/nce up

$(BROWSER):
	$(SUDO) apt-get update -q
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver

test: $(STAMP) $(BROWSER)
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/pipeline.py

# The load figures of the README: N=100000 renewals at one instant; 500 commands/s for 300 s (flags: --help).
bench-wave: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/python bench/renewal_wave.py $(ARGS)

bench-steady: $(STAMP)
	PYTHONPATH=. $(VENV)/bin/python bench/steady_load.py $(ARGS)

clean:
	rm -rf $(VENV) .nce
