# The two commands that matter: `make run` and `make test`. Each sets up .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The console's browser tests drive Debian's Chromium (Playwright's own download is not
# reachable): installed with apt as root when /usr/bin/chromium is missing, once (the stamp).
CHROMIUM_STAMP := $(VENV)/.chromium
$(CHROMIUM_STAMP): $(STAMP)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else echo "make: /usr/bin/chromium missing (run as root, or: sudo apt-get install -y chromium); browser tests will skip"; fi; \
	fi
	touch $(CHROMIUM_STAMP)
# Azurite (Azure Storage's emulator, npm), for the recordings' Blob tests: project-local.
AZURITE := .tools/node_modules/.bin/azurite-blob
$(AZURITE):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error azurite@3
	touch $(AZURITE)

run: $(STAMP)
	$(BIN)/bot serve

# Most tests wait on real sockets and real time rather than compute, so workers beyond the core
# count still pay off. On 2 shared cores: 2 workers ~220 s, 4 ~150 s, 6 and 8 ~90-120 s but
# with a timing assertion failing now and then under the load; 4 is the most that stayed green.
# loadgroup hands tests out one by one (slowest first, tests/support/workers.py) and keeps each
# xdist_group on one worker. `make test TEST_WORKERS=0` runs serially.
TEST_WORKERS ?= 4
test: $(STAMP) $(CHROMIUM_STAMP) $(AZURITE)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/hadolint infra/Dockerfile
	@# checkov exits 0 on files it cannot parse: treat "Parsing errors: N" as a failure too.
	@out=$$($(BIN)/checkov --directory infra --quiet --compact --skip-download); status=$$?; \
	  echo "$$out"; \
	  if echo "$$out" | grep -q "Parsing errors: [1-9]"; then echo "checkov: parsing errors"; exit 1; fi; \
	  exit $$status

clean:
	rm -rf $(VENV) .pytest_cache
