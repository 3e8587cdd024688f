# The public interface of the repository. Every target sets up what it needs (host packages, the virtualenv).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

REPO    := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE   ?= /var/cache/chat-sentiment
export CHAT_SENTIMENT_CACHE := $(CACHE)
VENV    := $(CACHE)/venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
PYTHON  ?= python3.11
HOSTS   ?= a
# Molecule scenarios (and, in make test, the pytest suite) run this many at a time (scripts/molecule_all.py).
MOLECULE_JOBS ?= 4
# The demo's host (make demo, make demo-down); scripts/demo.py reads it from the environment.
DEMO_HOST ?= demo
export DEMO_HOST
# The CPU-only torch wheel, when the workspace provides one (never hard-coded in roles): SHARED_WHEELS=DIR, else the
# workspace's shared/wheels beside this checkout, or beside the checkout it was cloned from (a CI clone elsewhere).
ORIGIN  := $(shell git -C $(REPO) config --get remote.origin.url 2>/dev/null)
SHARED_WHEELS ?= $(firstword $(foreach d,$(REPO)/../shared/wheels $(if $(ORIGIN),$(ORIGIN)/../shared/wheels),\
                   $(if $(wildcard $(d)/*.whl),$(abspath $(d)))))
ifneq ($(and $(SHARED_WHEELS),$(wildcard $(SHARED_WHEELS)/*.whl)),)
export PIP_FIND_LINKS := $(strip $(PIP_FIND_LINKS) $(SHARED_WHEELS))
endif
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(REPO)/ansible.cfg
# make lock's resolver (uv), in a virtualenv of its own, installed from its hash lock.
LOCK_VENV := $(CACHE)/lock-venv
VENV_STAMP := $(VENV)/.stamp-$(shell cat $(REPO)/pyproject.toml $(REPO)/spark/pyproject.toml | sha256sum | cut -c1-16)
DEB_PACKAGES := systemd-container debootstrap squid iproute2 openssh-client curl ca-certificates openssl \
                chromium chromium-driver fonts-noto-cjk fonts-noto-color-emoji

.PHONY: help deps venv lock lint test test-static test-unit test-integration test-molecule mirror \
        testbed-up testbed-down testbed-status demo demo-down clean-venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 20

deps: ## install the host packages the test bed needs (Debian/Ubuntu; needs root)
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null || { echo "deps: install$$missing with your package manager" >&2; exit 1; }; \
	  echo "deps: installing$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# The Debian squid package may start its own service; the test bed runs its own instance instead.
	@if [ -x /etc/init.d/squid ] && pgrep -f '^/usr/sbin/squid' >/dev/null 2>&1 && ! pgrep -f 'squid.*chat-sentiment' >/dev/null; then \
	  /etc/init.d/squid stop >/dev/null 2>&1 || true; fi
	@command -v java >/dev/null || { echo "deps: a Java runtime (11+) is needed for the integration tests" >&2; exit 1; }
	@command -v go >/dev/null || { echo "deps: Go (1.23+) is needed to build Filebeat for the mirror" >&2; exit 1; }

venv: $(VENV_STAMP) ## create/update the controller virtualenv from pyproject.toml
	@# The job package is installed editable from this checkout (a new clone re-points it).
	@$(PY) -c 'import chat_sentiment, sys; sys.exit(not chat_sentiment.__file__.startswith("$(REPO)/"))' 2>/dev/null \
	  || $(PY) -m pip install -q --no-deps -e $(REPO)/spark

$(VENV_STAMP):
	@echo "venv: building $(VENV)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@$(PY) $(REPO)/scripts/requirements.py $(REPO)/pyproject.toml dev > $(VENV)/requirements.txt
	@$(PY) -m pip install -q -r $(VENV)/requirements.txt
	@rm -f $(VENV)/.stamp-* && touch $@

lock: venv ## regenerate the roles' hash-pinned pip locks from the pins (needs PyPI; torch's CPU wheel: SHARED_WHEELS)
	@test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) \
	  && $(LOCK_VENV)/bin/pip install -q --require-hashes --no-deps -r $(REPO)/scripts/lock/uv.lock; }
	@# The mirror's wheelhouse, when built, spares uv building pyspark's 450 MB sdist for its metadata; every hash
	@# in the locks still comes from the index.
	cd $(REPO) && $(PY) -m scripts.lock --uv $(LOCK_VENV)/bin/uv \
	  $(foreach d,$(SHARED_WHEELS),--torch-wheels $(d)) \
	  $(if $(wildcard $(CACHE)/mirror/wheels/*.whl),--find-links $(CACHE)/mirror/wheels)

lint: venv ## yamllint, ansible-lint (production profile), ruff, playbook syntax checks
	cd $(REPO) && yamllint -s .
	cd $(REPO) && ruff check .
	cd $(REPO) && ansible-lint --profile production --offline -q
	cd $(REPO) && for pb in site.yml ansible/playbooks/*.yml molecule/*/*.yml; do \
	  case "$$pb" in */molecule.yml) continue;; esac; \
	  ansible-playbook --syntax-check -i localhost, "$$pb" >/dev/null || { echo "syntax-check failed: $$pb" >&2; exit 1; }; \
	done; echo "syntax-check: ok"

mirror: deps venv ## build/refresh the offline artifact mirror (Kafka, Spark connectors, wheels, Filebeat)
	cd $(REPO) && $(PY) -m scripts.mirror build

test-static: venv ## distro matrix and other host-less checks
	cd $(REPO) && $(PY) -m pytest -q tests/static tests/unit

test-integration: deps venv mirror ## real ZooKeeper/Kafka/Filebeat from the mirror on localhost
	cd $(REPO) && $(PY) -m pytest -q -m integration tests/integration

test-molecule: deps venv mirror ## every molecule scenario on the test bed (MOLECULE_JOBS at a time)
	cd $(REPO) && $(PY) -m scripts.molecule_all --jobs $(MOLECULE_JOBS)

test: deps venv ## everything CI runs: lint, static, unit, integration, molecule
	@# The bed's Debian image (debootstrap, network-bound) is built while the mirror (compiles, CPU-bound) is.
	@mkdir -p $(CACHE)/logs
	cd $(REPO) && { $(PY) -m scripts.testbed image > $(CACHE)/logs/image.log 2>&1 & image=$$!; \
	  status=0; $(MAKE) --no-print-directory mirror || status=$$?; \
	  wait $$image || { echo "test: building the test-bed image failed:" >&2; tail -n 40 $(CACHE)/logs/image.log >&2; exit 1; }; \
	  exit $$status; }
	@# Lint and the pytest suite run as jobs beside the scenarios: all of them spend much of their time waiting.
	@# Then, every scenario's hosts destroyed, the bed goes too and must leave no trace (kept when other hosts run).
	cd $(REPO) && status=0; $(PY) -m scripts.molecule_all --jobs $(MOLECULE_JOBS) \
	  --also "lint=make --no-print-directory lint" --also "pytest=$(PY) -m pytest -q tests" || status=$$?; \
	  $(PY) -m scripts.testbed down --when-idle || status=1; exit $$status

testbed-up: deps venv ## boot test-bed hosts: make testbed-up HOSTS="a b c"
	cd $(REPO) && $(PY) -m scripts.testbed up $(HOSTS)

testbed-down: ## remove every test-bed host, the bridge and the bed's services
	cd $(REPO) && python3 -m scripts.testbed down

testbed-status:
	cd $(REPO) && python3 -m scripts.testbed status

demo: deps venv mirror ## all-in-one host, site.yml (Twitch), sample chat replayed, per-minute sentiment table
	cd $(REPO) && $(PY) -m scripts.demo

demo-down: ## remove the demo host (DEMO_HOST, as for make demo)
	cd $(REPO) && python3 -m scripts.testbed down "$(DEMO_HOST)"

clean-venv:
	rm -rf $(VENV)
