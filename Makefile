# `make test` and `make demo` each set up what they need on a fresh machine, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: test demo bench bench-peers interop lint typecheck pytest chromium redis node-clients clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# torch is pinned to the CPU build on this machine's disk before the `local` extra asks for
# any torch: an unpinned torch would download a CUDA build of several GB.
$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev,local]'
	touch $@

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP_DEV)
	$(BIN)/mypy imagegate

# Debian's chromium renders the gateway's status page in one test; where it cannot be
# installed (no root, no apt) that test is skipped, not failed.
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1 || echo "chromium could not be installed: its test will be skipped"

# Debian's redis-server backs the Redis state tests (a throwaway server per test session);
# where it cannot be installed those tests are skipped, not failed.
redis:
	@command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server) >/dev/null 2>&1 || echo "redis-server could not be installed: the Redis state tests will be skipped"

# The node clients of the conformance suite (openai-node, the Vercel AI SDK), at the exact
# versions of their package-lock.json, from the npm registry; where npm is missing or the
# install fails, their tests are skipped, not failed.
CLIENTS := tests/server/clients
STAMP_CLIENTS := $(CLIENTS)/node_modules/.installed

node-clients:
	@[ $(STAMP_CLIENTS) -nt $(CLIENTS)/package-lock.json ] || { command -v npm >/dev/null && (cd $(CLIENTS) && npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/.installed); } || echo "the node clients could not be installed: their tests will be skipped"

pytest: $(STAMP_DEV) chromium redis node-clients
	# pytest exits 5 when it collects no test; that is not a failure of the code.
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

test: lint typecheck pytest

demo: $(STAMP_DEV)
	$(BIN)/python examples/demo.py

# LiteLLM gets a venv of its own (it pins its own openai range), for `make bench` and `make interop`.
BENCH_VENV := .venv-bench
STAMP_BENCH := $(BENCH_VENV)/.installed-bench
# The router from before the guard chains: routing decisions must be no slower than it.
ROUTING_BASELINE := c5b04cdae2ce28f0f4b7f74a2d45f571d9a47877

$(STAMP_BENCH): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[openai,server]' 'litellm[proxy]>=1.70,<2' psutil
	touch $@

# The Portkey gateway (Node) that bench/gateway_servers.py runs beside imagegate serve and the
# LiteLLM proxy, at the exact version of bench/peers/package-lock.json, from the npm registry;
# where npm is missing or the install fails, the bench leaves Portkey out, and says so.
PEERS := bench/peers
STAMP_PEERS := $(PEERS)/node_modules/.installed

bench-peers:
	@[ $(STAMP_PEERS) -nt $(PEERS)/package-lock.json ] || { command -v npm >/dev/null && (cd $(PEERS) && npm ci --no-audit --no-fund --loglevel=error >/dev/null && touch node_modules/.installed); } || echo "the Portkey gateway could not be installed: bench/gateway_servers.py will leave it out"

# Every benchmark prints its figures and its ratio to a baseline measured in the same run.
bench: $(STAMP_DEV) $(STAMP_BENCH) bench-peers
	$(BENCH_VENV)/bin/python bench/gateway_overhead.py
	$(BENCH_VENV)/bin/python bench/gateway_servers.py
	$(BIN)/python bench/gateway_abuse.py
	$(BIN)/python bench/routing_decision.py --baseline $(ROUTING_BASELINE)
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/polling.py
	$(BIN)/python bench/ledger.py
	$(BIN)/python bench/memory.py
	$(BIN)/python bench/batch_throughput.py
	$(BIN)/python bench/text_detection.py
	HF_HUB_OFFLINE=1 $(BIN)/python bench/local_throughput.py

# LiteLLM's image calls against the gateway on the emulators: too heavy for `make test`, so in
# the bench venv. Prints one line per check; fails if any check does.
interop: $(STAMP_BENCH)
	$(BENCH_VENV)/bin/python interop/litellm_check.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .mypy_cache .ruff_cache .pytest_cache demo-output $(CLIENTS)/node_modules $(PEERS)/node_modules
