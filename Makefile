# The README's two commands. Each installs what it needs, idempotently, on a fresh machine of this kind.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# chromium: the browser of tests/clients/test_prefect_ui.py (Playwright drives it; its own download is unreachable)
# libguestfs-tools ... qemu-system-x86: OS preparation and the lab's guests and boot check (docs/os-preparation.md)
APT_PACKAGES := golang-go golang-github-vmware-govmomi-dev qemu-utils postgresql chromium \
	libguestfs-tools python3-guestfs python3-hivex libhivex-bin linux-image-amd64 nbdkit nbdkit-plugin-python \
	busybox-static ntfs-3g grub-pc-bin debootstrap e2fsprogs qemu-system-x86
# Debian's libguestfs and hivex bindings (not on PyPI), seen by the venv's Python 3.11 through a .pth file that
# points at links to them: only these modules, not the whole of Debian's dist-packages.
DEBIAN_PYTHON := /usr/lib/python3/dist-packages
DEBIAN_MODULES := guestfs.py libguestfsmod.cpython-311-x86_64-linux-gnu.so hivex \
	libhivexmod.cpython-311-x86_64-linux-gnu.so
# The real-client suite (tests/clients/): each client in an environment of its own, so that their pinned SDKs
# never touch .venv. Rebuilt when its pins change.
CLIENTS := .cache/clients
CLIENT_PINS := tests/clients/requirements
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export GOFLAGS :=

.PHONY: test demo setup system-packages clients lint lab-up lab-down clean guests debian-modules

# What the product and its lab need; the tests also need the real clients (make clients).
setup: system-packages $(VENV)/.installed debian-modules node_modules/.installed vcsim guests

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

# Side by side: each is mostly downloads (measured on a fresh .cache, one after the other, on a busy machine:
# az 4 min, Ansible 18 min, the JavaScript SDK 25 s).
clients:
	@$(MAKE) --no-print-directory -j3 $(CLIENTS)/az/.installed $(CLIENTS)/ansible/.installed $(CLIENTS)/js/.installed

$(CLIENTS)/az/.installed: $(CLIENT_PINS)/azure-cli.txt
	rm -rf $(CLIENTS)/az && python3 -m venv $(CLIENTS)/az
	$(CLIENTS)/az/bin/pip install -q --disable-pip-version-check -r $<
	touch $@

# Ansible 13+ needs Python 3.12+ (tests/clients/requirements/ansible.txt says why not 12): Debian 12 has 3.11, this
# machine's pyenv has 3.12 and 3.13. The collections name the SDKs they were written against in their own
# requirements files: azure.azcollection its azure-mgmt-* pins, community.vmware the VCF SDK.
ANSIBLE_PYTHON = $(firstword $(wildcard /usr/bin/python3.1[2-9] $(HOME)/.pyenv/versions/3.1[2-9]*/bin/python3))
ANSIBLE_COLLECTIONS = $(CLIENTS)/ansible/lib/python3*/site-packages/ansible_collections
$(CLIENTS)/ansible/.installed: $(CLIENT_PINS)/ansible.txt
	@test -n "$(ANSIBLE_PYTHON)" || { echo "Ansible needs Python 3.12 or later (python3.12, or pyenv's)"; exit 1; }
	rm -rf $(CLIENTS)/ansible && $(ANSIBLE_PYTHON) -m venv $(CLIENTS)/ansible
	$(CLIENTS)/ansible/bin/pip install -q --disable-pip-version-check -r $<
	$(CLIENTS)/ansible/bin/pip install -q --disable-pip-version-check \
	  -r $$(echo $(ANSIBLE_COLLECTIONS)/azure/azcollection/requirements.txt) \
	  -r $$(echo $(ANSIBLE_COLLECTIONS)/community/vmware/requirements.txt)
	touch $@

$(CLIENTS)/js/.installed: tests/clients/js/package.json tests/clients/js/package-lock.json
	rm -rf $(CLIENTS)/js && mkdir -p $(CLIENTS)/js
	cp $^ $(CLIENTS)/js/
	cd $(CLIENTS)/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

debian-modules: system-packages $(VENV)/.installed
	@mkdir -p $(VENV)/debian-site
	@for m in $(DEBIAN_MODULES); do ln -sfn $(DEBIAN_PYTHON)/$$m $(VENV)/debian-site/$$m; done
	@echo "$(abspath $(VENV))/debian-site" > $$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/vmshift-debian.pth
	@$(PY) -c 'import guestfs, hivex'

vcsim: system-packages $(VENV)/.installed
	@$(PY) -m vmshift.lab.vcsim_build

# The lab guests' disk images (vmshift/lab/guests), built once and cached under .cache/guests by recipe hash.
guests: system-packages debian-modules
	@$(PY) -m vmshift.lab.guests.catalog

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Two workers, a lab each, each folder of tests/ whole on one of them (tests/conftest.py says which go first).
TEST_WORKERS ?= 2
test: setup clients lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

demo: setup
	$(PY) -m cli.demo

lab-up: setup
	$(VENV)/bin/vmshift lab up

lab-down:
	$(VENV)/bin/vmshift lab down

clean:
	-$(VENV)/bin/vmshift lab down
	rm -rf .cache .lab
