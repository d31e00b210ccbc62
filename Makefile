# The README's two commands. Each installs what it needs, idempotently, on a fresh machine of this kind.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := golang-go golang-github-vmware-govmomi-dev qemu-utils postgresql
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GOFLAGS :=

.PHONY: test demo setup system-packages lint lab-up lab-down clean

setup: system-packages $(VENV)/.installed node_modules/.installed vcsim

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing with apt:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

vcsim: system-packages $(VENV)/.installed
	@$(PY) -m vmshift.lab.vcsim_build

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

test: setup lint
	$(VENV)/bin/pytest

demo: setup
	$(PY) -m vmshift.demo

lab-up: setup
	$(VENV)/bin/vmshift lab up

lab-down:
	$(VENV)/bin/vmshift lab down

clean:
	-$(VENV)/bin/vmshift lab down
	rm -rf .cache .lab
