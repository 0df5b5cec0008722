# k0rdent.kof — developer entry points. Every target does its own setup.
#   make demo   run the full KOF rollout against kofsim (the embedded local target) and print the report
#   make test   every test: kofsim, unit, integration, molecule, ansible-lint, ansible-test sanity
#   make bench  fleet-scale benchmark of both install flows, KOF 0.1.1 and 1.10.0 (BENCH_N="10 100 1000" by default)
#   make matrix unit tests + ansible-test sanity on every supported ansible-core, 2.17 to 2.20 (MATRIX_ARGS)
#   make conformance  kofsim vs a real kube-apiserver, same requests (docs/conformance.md)
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(ROOT)/.tools/bin:$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
PYTEST_ARGS ?=
# make test spreads the tests over pytest-xdist workers (conftest.py: which tests stay together); 1 = serial
PYTEST_WORKERS ?= 3
BENCH_N ?= 10 100 1000

.PHONY: setup test demo bench matrix bench-finops lint sanity unit build clean
setup:
	@bash scripts/setup.sh

test: setup
	@$(VENV)/bin/python -m pytest $(if $(filter-out 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

unit: setup
	@$(VENV)/bin/python -m pytest tests/unit $(PYTEST_ARGS)

lint: setup
	@$(VENV)/bin/python -m pytest tests/static $(PYTEST_ARGS)

demo: setup
	@bash scripts/demo.sh

bench: setup
	@$(VENV)/bin/python benchmarks/run.py $(BENCH_N)
	@$(VENV)/bin/python benchmarks/run.py --kof-version 1.10.0 --out benchmarks/results-1.10.md $(BENCH_N)

# one virtual env per ansible-core under .cache/matrix (from PyPI); MATRIX_ARGS="--no-sanity" or "2.17 2.20"
matrix: setup
	@$(VENV)/bin/python tests/unit/matrix.py $(MATRIX_ARGS)

# kofsim against a real kube-apiserver, request by request; rewrites docs/conformance.md, last line the score
conformance: setup
	@$(VENV)/bin/python -m kofsim.conformance --report docs/conformance.md

# FinOps: the cost report of 1000 clusters x 30 days in real VictoriaMetrics (benchmarks/finops.py)
bench-finops: setup
	@$(VENV)/bin/python benchmarks/finops.py $(BENCH_FINOPS_ARGS)

build: setup
	@mkdir -p build && $(VENV)/bin/ansible-galaxy collection build --force --output-path build .

clean:
	rm -rf build .pytest_cache tests/output
