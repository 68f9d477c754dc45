# Two commands for a newcomer: `make demo` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Host packages the live tests and the demo need: namespaces (iproute2) and the tools that
# build the rock-like root they run ZooKeeper from (debootstrap; tests/live/rootfs.py) and
# the server extension in it (javac; extension/build.py).
APT_PACKAGES := iproute2 debootstrap openjdk-17-jdk-headless

.PHONY: test demo deps venv root lint unit promtool live chaos integration bench mutation clean

test: deps venv lint unit live

demo: root
	$(PY) demo.py

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing"; \
		export DEBIAN_FRONTEND=noninteractive; \
		$(SUDO) apt-get install -y --no-install-recommends $$missing \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y --no-install-recommends $$missing; }; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tools/validate_yaml.py
	$(PY) tools/check_rock_packages.py

# The alert-rule tests run promtool; fetched before them so they never skip.
unit: venv promtool
	$(PY) -m pytest tests/unit -q

promtool:
	$(PY) tools/promtool.py

# The rock-like root is built (or found in .cache/) before the tests, so its cost and any
# download error show on their own.
root: deps venv
	PYTHONPATH=src:. $(PY) -m tests.live.rootfs

live: root
	$(PY) -m pytest tests/live -q

# Faults on pod-like units (kill, replace, freeze, cut off, 5 units split 2/3, a full and a
# lost data volume): its own step in .ci/run. bench/chaos.py runs it as a bench.
chaos: root
	$(PY) -m pytest tests/chaos -q

integration: venv
	$(PY) -m pytest tests/integration -q

bench: root
	$(PY) bench/bootstrap.py
	$(PY) bench/scale.py
	$(PY) bench/hooks.py
	$(PY) bench/extension.py
	$(PY) bench/clients.py
	$(PY) bench/tls.py
	$(PY) bench/backup.py

# Mutation testing of the pure modules (pyproject.toml's [tool.mutmut] names them): mutmut
# runs the unit tests against each mutant in a copy of the tree (mutants/), then
# tools/mutation_report.py prints the score per module and overall, and each survivor that
# tools/mutation_equivalents.md does not explain. Not part of `make test`: 863 mutants took
# 9 minutes on the 2-core machine (2026-12-01, beside other work; 806 took 4m40s idle; each
# surviving mutant runs every unit test that reaches it, so many survivors make it slower:
# 16 minutes with the 87 there were before their tests). Always a fresh run (a stale mutants/
# could keep results from before a test changed); `$(VENV)/bin/mutmut run` alone resumes one.
mutation: venv promtool
	rm -rf mutants
	PROMTOOL=$(CURDIR)/.cache/promtool/usr/bin/promtool $(VENV)/bin/mutmut run
	$(PY) tools/mutation_report.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache mutants
