# Keyhold: `make run` opens the console on the default vault (creating it on
# first run),
# `make test` builds and runs every test. Both install missing Debian
# packages first when they can.

SWIFT     ?= swift
PYTHON    ?= python3
VENV      := .build-py
# Build and runtime libraries.
DEPS      := libsodium-dev libsqlite3-dev libncursesw5-dev pkg-config
# Only needed by the tests: the independent Python verifier, the pass store fixture.
TEST_DEPS := python3 python3-venv pass gnupg

.PHONY: all deps test-deps build release run test test-swift test-python clean

all: build

deps:
	@scripts/ensure-deps.sh $(DEPS)
	@command -v $(SWIFT) >/dev/null || { echo "Swift 6 is needed: https://www.swift.org/install/linux/ (then put swift on PATH)" >&2; exit 1; }

test-deps: deps
	@scripts/ensure-deps.sh $(TEST_DEPS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

run: build
	@$$($(SWIFT) build --show-bin-path)/keyhold

# The verifier's environment: PyNaCl and pytest in a virtual environment under .build-py/.
$(VENV)/.ready: scripts/requirements-test.txt | test-deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
	@touch $@

test: test-deps $(VENV)/.ready test-swift test-python

test-swift:
	$(SWIFT) build --build-tests
	KEYHOLD_PYTHON=$(abspath $(VENV))/bin/python $(SWIFT) test

test-python: $(VENV)/.ready
	$(VENV)/bin/python -m pytest -q scripts/test_keyhold_verify.py

clean:
	rm -rf .build $(VENV)
