# Keyhold: `make run` opens the console on the default vault (creating it on
# first run),
# `make test` builds and runs every test. Both install missing Debian
# packages first when they can.

SWIFT     ?= swift
PYTHON    ?= python3
# Release builds link the Swift runtime and Foundation into the binary (docs/ARCHITECTURE.md,
# "Decisions"): a command through the agent is mostly process start, and resolving the symbols
# of a dozen Swift shared libraries was about half of it. The binary also runs where no Swift
# toolchain is installed. Every release build of keyhold here uses the same flags, so none rebuilds
# another's. keyhold-bench links the test support, and Swift Testing has no static library: it is
# built dynamically, in its own build directory.
RELEASE   := -c release --static-swift-stdlib
BENCH_BUILD := -c release --scratch-path .build-bench
VENV      := .build-py
# Build and runtime libraries.
DEPS      := libsodium-dev libsqlite3-dev libncursesw5-dev pkg-config
# Only needed by the tests: the independent Python verifier, the pass store fixture, the console in tmux.
TEST_DEPS := python3 python3-venv pass gnupg tmux
# Only needed by `make bench-peers`: the tools Keyhold is measured against, and python3 for the driver.
PEER_DEPS := python3 pass gnupg keepassxc

.PHONY: all deps test-deps build release run test lint test-swift test-fuzz test-release test-python test-flask test-dotenv fuzz bench bench-peers bench-peers-agent clean

all: build

deps:
	@scripts/ensure-deps.sh $(DEPS)
	@command -v $(SWIFT) >/dev/null || { echo "Swift 6 is needed: https://www.swift.org/install/linux/ (then put swift on PATH)" >&2; exit 1; }

test-deps: deps
	@scripts/ensure-deps.sh $(TEST_DEPS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build $(RELEASE)

run: build
	@$$($(SWIFT) build --show-bin-path)/keyhold

# The Python tests' environment, under .build-py/: PyNaCl and pytest for the verifier;
# Flask, Flask-WTF, argon2-cffi and bcrypt for the Flask example (examples/flask);
# python-dotenv, pinned, for the .env differential test.
$(VENV)/.ready: scripts/requirements-test.txt | test-deps
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
	@touch $@

test: test-deps $(VENV)/.ready lint test-swift test-fuzz test-python test-flask test-dotenv test-release

# The code's layout: swift-format (from the toolchain) with .swift-format's
# settings (140 columns, 4-space indents, the project's own choices of rules).
# `swift format format -i -r Sources Tests Package.swift` applies it.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

test-swift:
	$(SWIFT) build --build-tests
	KEYHOLD_PYTHON=$(abspath $(VENV))/bin/python $(SWIFT) test

# A short pass of every fuzz target over its committed corpus (about 30 s in all), with the
# binary the everyday build made (coverage in the fuzz targets' own code only). A failing
# input stays in .build/fuzz-short/artifacts until the next run.
FUZZ_SHORT_SECONDS ?= 3
test-fuzz:
	$(SWIFT) build --product keyhold-fuzz
	rm -rf .build/fuzz-short
	scripts/fuzz.sh $$($(SWIFT) build --show-bin-path)/keyhold-fuzz $(FUZZ_SHORT_SECONDS) .build/fuzz-short

# libFuzzer on every parser of input (Fuzz/, docs/ARCHITECTURE.md "Fuzzing"): built in
# .build-fuzz with coverage in the formats, the core and crypto, each target run for
# FUZZ_SECONDS (or only FUZZ_TARGETS="dates json-entries"). What it finds stays in
# .build-fuzz/work: corpus/TARGET grows from run to run, artifacts/ holds any failing input.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: deps
	KEYHOLD_FUZZ_COVERAGE=1 $(SWIFT) build --scratch-path .build-fuzz --product keyhold-fuzz
	scripts/fuzz.sh $$(KEYHOLD_FUZZ_COVERAGE=1 $(SWIFT) build --scratch-path .build-fuzz --show-bin-path)/keyhold-fuzz \
		$(FUZZ_SECONDS) .build-fuzz/work $(FUZZ_TARGETS)

# The shipped binary, built as `make release` builds it, carries no test machinery
# (scripts/check-release.sh: names in its strings and symbols, and the debug-only cheap-KDF switch).
test-release: deps
	$(SWIFT) build $(RELEASE) --product keyhold
	scripts/check-release.sh $$($(SWIFT) build $(RELEASE) --show-bin-path)/keyhold

# test_bench_peers.py runs the benchmark's agent section end to end at a tiny N with the
# debug binary (and the cheap KDF, which only that test can turn on).
test-python: $(VENV)/.ready build
	KEYHOLD_BIN=$$($(SWIFT) build --show-bin-path)/keyhold \
		$(VENV)/bin/python -m pytest -q scripts/test_keyhold_verify.py scripts/test_bench_peers.py

# The Flask example against a vault made by the built binary, run under `keyhold run`.
test-flask: $(VENV)/.ready build
	KEYHOLD_BIN=$$($(SWIFT) build --show-bin-path)/keyhold $(VENV)/bin/python -m pytest -q examples/flask

# .env import and export against python-dotenv itself (the parser Flask uses), through the built binary.
test-dotenv: $(VENV)/.ready build
	KEYHOLD_BIN=$$($(SWIFT) build --show-bin-path)/keyhold $(VENV)/bin/python -m pytest -q scripts/test_dotenv_interop.py

# The benchmark (README, "Performance": import, rotation, and the console over
# 100,000 users and secrets, the page queries of its lists, `keyhold secret list
# --json` over them): release build, 2 to 5 minutes on 2 cores; prints
# the report and writes it to bench/results/<date>.md. Import and rotation are
# judged against the native floor, bench/floor/floor.c, which keyhold-bench
# builds itself with the system C compiler ($CC, else cc) against the system
# SQLite (libsqlite3-dev, in DEPS) and runs between the product's runs.
BENCH_OUT ?= bench/results/$(shell date +%F).md
bench: deps
	$(SWIFT) build $(BENCH_BUILD) --product keyhold-bench
	$(SWIFT) build $(BENCH_BUILD) --product keyhold
	@mkdir -p bench/results
	$$($(SWIFT) build $(BENCH_BUILD) --show-bin-path)/keyhold-bench --dir bench/tmp --out $(BENCH_OUT)

# Keyhold side by side with pass and keepassxc-cli: the release
# keyhold, the same workloads on each tool in one run, every tool at its default
# KDF, then Keyhold through its agent (`keyhold unlock`) beside `pass show`; about
# 25 minutes on 2 cores. Prints the report and writes it to
# bench/results/peers-<date>.md. PEERS_ARGS passes options to scripts/bench_peers.py.
# `make bench-peers-agent` runs the agent section alone at 100,000 secrets (a few
# minutes) and writes bench/results/peers-agent-<date>.md.
PEERS_OUT ?= bench/results/peers-$(shell date +%F).md
PEERS_ARGS ?=
bench-peers: deps
	@scripts/ensure-deps.sh $(PEER_DEPS)
	$(SWIFT) build $(RELEASE) --product keyhold
	@mkdir -p bench/results
	$(PYTHON) scripts/bench_peers.py --keyhold $$($(SWIFT) build $(RELEASE) --show-bin-path)/keyhold \
		--dir bench/tmp --out $(PEERS_OUT) $(PEERS_ARGS)

bench-peers-agent:
	$(MAKE) bench-peers PEERS_ARGS="--only agent $(PEERS_ARGS)" \
		PEERS_OUT=bench/results/peers-agent-$(shell date +%F).md

clean:
	rm -rf .build .build-bench .build-fuzz $(VENV)
