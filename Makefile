# pyrkt: `make demo` and `make test` are the two commands a new user types.
# Both depend on `make install`, which is idempotent and fast on a second run.

PYTHON ?= /usr/bin/python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install apt demo test test-unit bench bench-runtime bench-pods bench-images clean lint

install: apt $(STAMP)

apt:
	@bash scripts/install-apt.sh packages.apt

$(STAMP): pyproject.toml packages.apt
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	@$(VPY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@$(VPY) scripts/install-launchers.py
	@$(VPY) -m compileall -q src/pyrkt >/dev/null
	@touch $(STAMP)

# a changed launcher generator regenerates the launchers
$(STAMP): scripts/install-launchers.py

demo: install
	@bash examples/demo.sh

test: install
	@$(VPY) -m pytest -q $(PYTEST_ARGS)

test-unit: install
	@$(VPY) -m pytest -q tests/unit

# all three benchmarks, each side by side with the tools it replaces (see bench/README.md);
# bench-runtime / bench-pods / bench-images run one
bench: bench-runtime bench-pods bench-images

bench-runtime: install
	@$(VPY) bench/runtime_bench.py $(BENCH_ARGS)

bench-pods: install
	@$(VPY) bench/pod_bench.py $(POD_BENCH_ARGS)

bench-images: install
	@$(VPY) bench/image_bench.py $(IMAGE_BENCH_ARGS)

lint: install
	@$(VPY) -m mypy src/pyrkt

clean:
	rm -rf $(VENV) build src/*.egg-info examples/out
