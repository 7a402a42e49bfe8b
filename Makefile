# Everything a fresh machine needs: `make demo` and `make test` create the virtualenv.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# This machine's pip config lists local indexes that may not exist; pip says so once per package.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

# The Tutor plugin, a second distribution of this repository (installed where tutor runs).
PLUGIN := tutor-contrib-backfill
PYENV_ROOT ?= $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON312 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.12.*/bin/python) $(shell command -v python3.12 2>/dev/null))
PYTHON311 ?= $(firstword $(wildcard $(PYENV_ROOT)/versions/3.11.*/bin/python) $(shell command -v python3.11 2>/dev/null))
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.txt setup.cfg $(PLUGIN)/pyproject.toml | md5sum | cut -c1-12)
# The oldest platform we support (Python 3.11, Django 4.2, ERB 9.3), in a virtualenv of its own.
VENV_OLDEST := .venv-oldest
PY_OLDEST := $(VENV_OLDEST)/bin/python
STAMP_OLDEST := $(VENV_OLDEST)/.installed-$(shell cat requirements/oldest.txt setup.cfg $(PLUGIN)/pyproject.toml | md5sum | cut -c1-12)
# Where Tutor runs for an Aspects 6.x operator: tutor 22 + tutor-contrib-aspects 6.1.0 + our plugin, apart
# from the platform's set (Aspects 6.1.0 pins click<8.3): the plugin's tests render them together.
VENV_TUTOR := .venv-tutor-aspects
PY_TUTOR := $(VENV_TUTOR)/bin/python
STAMP_TUTOR := $(VENV_TUTOR)/.installed-$(shell cat requirements/tutor-aspects.txt $(PLUGIN)/pyproject.toml | md5sum | cut -c1-12)
PIP_COMPILE_ARGS := -q --no-emit-index-url --no-emit-find-links --strip-extras --allow-unsafe

.PHONY: help venv venv-oldest venv-tutor-aspects requirements upgrade-requirements test test-oldest fuzz check-install check-tutor-plugin demo bench quality clean services-apt build-deps-apt

help:
	@echo "make demo    build a sample log, backfill it into the embedded ClickHouse, show the result"
	@echo "make test    run the test suite (starts its own Ralph, moto, Redis, MariaDB)"
	@echo "make test-oldest  the same suite on the oldest platform we support (Python 3.11, Django 4.2, ERB 9.3)"
	@echo "make fuzz    the property-based tests with FUZZ_FACTOR (50) times the examples of make test"
	@echo "make check-install  pip install into a fresh Django 4.2 + ERB 9.3 changes neither"
	@echo "make check-tutor-plugin  both distributions build; the plugin installs beside tutor alone and renders"
	@echo "make bench   benchmarks, side by side with the tools we replace"
	@echo "make quality ruff and mypy"
	@echo "make requirements  recompile requirements/*.txt from requirements/*.in (pip-tools)"

$(STAMP): requirements/dev.txt setup.cfg $(PLUGIN)/pyproject.toml | build-deps-apt
	@if [ -z "$(PYTHON312)" ]; then \
	  echo "Python 3.12 not found: install it with 'pyenv install 3.12.1' or set PYTHON312=/path/to/python3.12"; exit 1; fi
	@test -x $(PY) || $(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip $(PIP_QUIET)
	$(PY) -m pip install -q -r requirements/dev.txt $(PIP_QUIET)
	$(PY) -m pip install -q --no-deps -e . -e ./$(PLUGIN) $(PIP_QUIET)
	@rm -f $(VENV)/.installed-*; touch $@

venv: $(STAMP)

$(STAMP_OLDEST): requirements/oldest.txt setup.cfg $(PLUGIN)/pyproject.toml | build-deps-apt
	@if [ -z "$(PYTHON311)" ]; then \
	  echo "Python 3.11 not found: install it with 'pyenv install 3.11.7' or set PYTHON311=/path/to/python3.11"; exit 1; fi
	@test -x $(PY_OLDEST) || $(PYTHON311) -m venv $(VENV_OLDEST)
	$(PY_OLDEST) -m pip install -q --upgrade pip pip-tools $(PIP_QUIET)
	$(PY_OLDEST) -m pip install -q -r requirements/oldest.txt $(PIP_QUIET)
	$(PY_OLDEST) -m pip install -q --no-deps -e . -e ./$(PLUGIN) $(PIP_QUIET)
	@rm -f $(VENV_OLDEST)/.installed-*; touch $@

venv-oldest: $(STAMP_OLDEST)

$(STAMP_TUTOR): requirements/tutor-aspects.txt $(PLUGIN)/pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: set PYTHON312=/path/to/python3.12"; exit 1; }
	@test -x $(PY_TUTOR) || $(PYTHON312) -m venv $(VENV_TUTOR)
	$(PY_TUTOR) -m pip install -q --upgrade pip $(PIP_QUIET)
	$(PY_TUTOR) -m pip install -q -r requirements/tutor-aspects.txt $(PIP_QUIET)
	$(PY_TUTOR) -m pip install -q --no-deps -e ./$(PLUGIN) $(PIP_QUIET)
	@rm -f $(VENV_TUTOR)/.installed-*; touch $@

venv-tutor-aspects: $(STAMP_TUTOR)

# Each set is compiled by its own Python: the newest by 3.12, the oldest by 3.11.
requirements: venv venv-oldest
	cd requirements && for f in base test dev; do ../$(VENV)/bin/pip-compile $(PIP_COMPILE_ARGS) $$f.in -o $$f.txt; done
	cd requirements && ../$(VENV_OLDEST)/bin/pip-compile $(PIP_COMPILE_ARGS) oldest.in -o oldest.txt
	cd requirements && ../$(VENV)/bin/pip-compile $(PIP_COMPILE_ARGS) tutor-aspects.in -o tutor-aspects.txt

upgrade-requirements: venv venv-oldest
	cd requirements && for f in base test dev; do ../$(VENV)/bin/pip-compile $(PIP_COMPILE_ARGS) --upgrade $$f.in -o $$f.txt; done
	cd requirements && ../$(VENV_OLDEST)/bin/pip-compile $(PIP_COMPILE_ARGS) --upgrade oldest.in -o oldest.txt
	cd requirements && ../$(VENV)/bin/pip-compile $(PIP_COMPILE_ARGS) --upgrade tutor-aspects.in -o tutor-aspects.txt

# Debian packages, each installed only when missing: what mysqlclient (the standalone
# project's MySQL driver) builds against, before any virtualenv; the real services the tests
# start (redis-server: the Celery broker; mariadb-server: the LMS's MySQL, read as a replica).
APT_INSTALL = if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
  { $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(1) >/dev/null; } \
  || { echo "Could not install $(1): install these Debian packages, then run make again"; exit 1; }

build-deps-apt:
	@pkg-config --exists mysqlclient 2>/dev/null || { \
	  echo "Installing Debian's default-libmysqlclient-dev and pkg-config (to build mysqlclient)"; \
	  $(call APT_INSTALL,default-libmysqlclient-dev pkg-config); }

services-apt:
	@command -v redis-server >/dev/null || { \
	  echo "Installing Debian's redis-server (the Celery broker of the --distributed tests)"; \
	  $(call APT_INSTALL,redis-server); }
	@command -v mariadbd >/dev/null || { \
	  echo "Installing Debian's mariadb-server (the LMS database of the read-replica tests)"; \
	  $(call APT_INSTALL,mariadb-server); }

test: venv venv-tutor-aspects services-apt
	$(PY) -m pytest $(PYTEST_ARGS)

test-oldest: venv-oldest venv-tutor-aspects services-apt
	$(PY_OLDEST) -m pytest $(PYTEST_ARGS)

# Property-based tests (Hypothesis), FUZZ_FACTOR times the examples make test runs; prints what they reached.
FUZZ_FACTOR ?= 50
FUZZ_TESTS := tests/test_any_line.py tests/test_any_course_export.py tests/test_dead_letter_file.py tests/test_xapi_archive.py

fuzz: venv services-apt
	BACKFILL_FUZZ_FACTOR=$(FUZZ_FACTOR) $(PY) -m pytest $(FUZZ_TESTS) --hypothesis-show-statistics $(PYTEST_ARGS)

# pip install into a fresh Django 4.2 + ERB 9.3 on Python 3.11 changes none of them (pip check clean).
check-install:
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: set PYTHON311=/path/to/python3.11"; exit 1; }
	PYTHON311=$(PYTHON311) .ci/check-platform-install

# Both distributions build; the Tutor plugin's wheel installs into a fresh environment with tutor alone.
check-tutor-plugin:
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: set PYTHON312=/path/to/python3.12"; exit 1; }
	PYTHON312=$(PYTHON312) .ci/check-tutor-plugin

demo: venv
	$(PY) -m demo.run

bench: venv
	$(PY) -m bench.speed --events 100000
	$(PY) -m bench.memory --gigabytes 1
	$(PY) -m bench.dump_profiles --profiles 100000

quality: venv
	$(VENV)/bin/ruff check backfill_app backfill_project tests bench demo $(PLUGIN)
	$(VENV)/bin/ruff format --check backfill_app backfill_project tests bench demo $(PLUGIN)
	$(VENV)/bin/mypy backfill_app $(PLUGIN)/tutorbackfill

clean:
	rm -rf $(VENV) $(VENV_OLDEST) $(VENV_TUTOR) var .pytest_cache

# Statements of older ERB releases (8.3.1, 9.0.1, 9.3.2), each made by the release itself in a
# virtualenv of its own under var/older-erb (Python 3.11, Django 4.2), and today's (.venv), from
# the same lines: tests/fixtures/older_erb/ (its README says what differs). ARGS=--resolve
# installs the releases' newest dependencies instead of the committed sets.
# Aspects' materialized views downstream of the raw xAPI table (tests/fixtures/aspects_dbt/downstream.sql),
# rendered from an aspects-dbt clone: ASPECTS_DBT=/path/to/aspects-dbt/.git [AT=<commit or tag>].
.PHONY: aspects-downstream-schema
aspects-downstream-schema: venv
	@test -n "$(ASPECTS_DBT)" || { echo "Set ASPECTS_DBT=/path/to/aspects-dbt/.git (git clone https://github.com/openedx/aspects-dbt)"; exit 1; }
	$(PY) scripts/aspects_dbt/render_downstream.py $(ASPECTS_DBT) --at $(or $(AT),HEAD)

.PHONY: older-erb-fixtures
older-erb-fixtures: venv
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: set PYTHON311=/path/to/python3.11"; exit 1; }
	PYTHON311=$(PYTHON311) $(PY) scripts/older_erb/build.py $(ARGS)
