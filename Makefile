# pyrkt: `make demo` and `make test` are the two commands a new user types.
# Both depend on `make install`, which is idempotent and fast on a second run.

PYTHON ?= /usr/bin/python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install apt demo test test-unit bench bench-runtime bench-pods bench-images clean lint
.PHONY: proto

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

# every test that needs no root (marker `unit`, set by tests/conftest.py), run as `nobody` when
# started as root so that a test needing root cannot pass by accident; `make test` is everything
test-unit: install
	@if [ "$$(id -u)" = 0 ]; then \
	  runuser -u nobody -- test -r $(VPY) || { echo "make test-unit: user nobody cannot read $(CURDIR)/$(VPY) (run it from a world-readable checkout)" >&2; exit 1; }; \
	  runuser -u nobody -- env HOME=/tmp $(VPY) -m pytest -q -p no:cacheprovider -m unit $(PYTEST_ARGS); \
	else $(VPY) -m pytest -q -m unit $(PYTEST_ARGS); fi

# the fault-injection tier (also part of `make test`): kills, garbage, ENOSPC, read-only, races;
# FAULT_SAMPLE=N kill points per command (default small, for CI), FAULT_SAMPLE=all for every one
.PHONY: test-faults
test-faults: install
	@$(VPY) -m pytest -q tests/faults $(PYTEST_ARGS)

# all three benchmarks, each side by side with the tools it replaces (see bench/README.md);
# bench-runtime / bench-pods / bench-images run one
bench: bench-runtime bench-pods bench-images

bench-runtime: install
	@$(VPY) bench/runtime_bench.py $(BENCH_ARGS)

bench-pods: install
	@$(VPY) bench/pod_bench.py $(POD_BENCH_ARGS)

bench-images: install
	@$(VPY) bench/image_bench.py $(IMAGE_BENCH_ARGS)

# rkt-run for every user: setuid launcher + root-owned code copy (README: "rkt-run: for sysadmins")
RKTRUN_VARS = PREFIX=$(or $(RKTRUN_PREFIX),/usr/local) CONFIG=$(or $(RKTRUN_CONFIG),/etc/rktrunner.toml) \
	STATE=$(or $(RKTRUN_STATE),/var/lib/rktrunner)
.PHONY: install-rkt-run uninstall-rkt-run bench-rkt-run
install-rkt-run:
	@$(RKTRUN_VARS) bash scripts/install-rktrun.sh install

uninstall-rkt-run:
	@$(RKTRUN_VARS) bash scripts/install-rktrun.sh uninstall

bench-rkt-run: install
	@$(VPY) bench/rktrun_bench.py $(RKTRUN_BENCH_ARGS)

lint: install
	@$(VPY) -m mypy src/pyrkt

clean:
	rm -rf $(VENV) build src/*.egg-info examples/out

# regenerate rkt's API v1alpha modules from src/pyrkt/service/v1alpha/api.proto (they are committed)
proto: install
	@$(VPY) -m grpc_tools.protoc -I src --python_out=src --grpc_python_out=src pyrkt/service/v1alpha/api.proto
