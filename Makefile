# Every target creates the virtualenv and installs what it needs from pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pyenv's 3.13 first (its shim may not be active), then any python3.13 on PATH.
PY313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13 2>/dev/null))
VENV313 ?= .venv313
# A free-threaded 3.13 (python3.13t), optional: docs/architecture.md says how one is built.
PY313T ?= $(firstword $(wildcard /opt/py313t/bin/python3.13t) $(shell command -v python3.13t 2>/dev/null))
VENV313T ?= .venv313t

.PHONY: run test lint bench bench-http bench-net soak test-313 test-313t clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m gmp.demo

# The real-Prometheus test (tests/http/test_obs_serve.py) needs Debian's prometheus: it
# is installed here when we are root with apt (as in CI); elsewhere that test is skipped
# with a reason saying how to install it.
test: $(STAMP)
	@command -v prometheus >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } || \
	  echo "make test: prometheus not installed (apt-get install prometheus); its test will be skipped"; }
	$(PY) -m pytest -q

# The docs' Python examples are type-checked too (gmp's API as its types say; the
# examples themselves are not annotated, so not --strict); examples/ is strict.
lint: $(STAMP)
	$(VENV)/bin/ruff check gmp sims tests bench notebooks examples
	$(VENV)/bin/ruff format --check gmp sims tests bench notebooks examples
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy examples
	$(VENV)/bin/mypy --strict tests/typing
	rm -rf $(VENV)/doc_snippets && $(PY) tests/http/doc_snippets.py $(VENV)/doc_snippets
	$(VENV)/bin/mypy --config-file= --python-version 3.11 --ignore-missing-imports \
	  --check-untyped-defs --disable-error-code no-redef $(VENV)/doc_snippets

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	flock /tmp/gmp-bench.lock $(PY) -m bench

# HTTP load benchmarks: wrk, Go (net/http and Debian's Gin) and the rival Python servers
# are installed here, never by `make test`.
bench-http: $(STAMP)
	command -v wrk >/dev/null && command -v go >/dev/null && test -d /usr/share/gocode/src/github.com/gin-gonic/gin || \
	  (apt-get update -qq && apt-get install -y -qq wrk golang-go golang-github-gin-gonic-gin-dev)
	$(PY) -m pip install --quiet -e '.[bench-http]'
	flock /tmp/gmp-bench.lock $(PY) -m bench.http

# gmp.net's echo round trip and connection rate beside asyncio, uvloop, trio and Go's net:
# Go (the reference server and the load generator, stdlib only) from Debian, uvloop from
# the `bench` extra; never installed by `make test`.
bench-net: $(STAMP)
	command -v go >/dev/null || (apt-get update -qq && apt-get install -y -qq golang-go)
	$(PY) -m pip install --quiet -e '.[bench]'
	flock /tmp/gmp-bench.lock $(PY) -m bench.net

# A bounded soak of `gmp serve` (bench/soak.py): 5 minutes of mixed load, the server's
# RSS and descriptors sampled, then SIGTERM under load; fails on failed or lost requests
# and descriptor leaks. Never run by `make test`. SOAK_ARGS="--duration 30" for a short run.
soak: $(STAMP)
	flock /tmp/gmp-bench.lock $(PY) -m bench.soak $(SOAK_ARGS)

$(VENV313)/.installed: pyproject.toml
	@test -n "$(PY313)" || { echo "make test-313: no python3.13 found (set PY313=/path/to/python3.13)"; exit 2; }
	$(PY313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -e '.[test]'
	touch $(VENV313)/.installed

test-313: $(VENV313)/.installed
	$(VENV313)/bin/python -m pytest -q

# The suite on free-threaded CPython. The test extra is installed without what has no
# free-threaded build for 3.13 (orjson and trustme's cryptography need PyO3, which
# supports free-threading from 3.14; hypothesis from 6.150 has a PyO3 part too): their
# tests skip or take the stdlib path. --prefer-binary: an older wheel over a newer sdist
# (matplotlib's sdist downloads freetype). Not part of `make test` or CI.
$(VENV313T)/.installed: pyproject.toml
	@test -n "$(PY313T)" || { echo "make test-313t: no python3.13t found (set PY313T=/path/to/python3.13t; see docs/architecture.md)"; exit 2; }
	$(PY313T) -m venv $(VENV313T)
	$(VENV313T)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313T)/bin/python -m pip install --quiet --prefer-binary -e . 'hypothesis<6.150' $$($(VENV313T)/bin/python -c \
	  'import tomllib; t = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"]; print(*(r for r in t if r.split(">")[0] not in ("orjson", "trustme")))')
	touch $(VENV313T)/.installed

test-313t: $(VENV313T)/.installed
	$(VENV313T)/bin/python -m pytest -q

clean:
	rm -rf $(VENV) $(VENV313) $(VENV313T) .pytest_cache .hypothesis .mypy_cache .ruff_cache
