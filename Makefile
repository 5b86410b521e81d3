# Two commands for a newcomer: `make demo` and `make test`.
# Each bootstraps everything on a fresh machine with Python 3.11 and root:
# the .venv, the package (editable, reinstalled only when setup.cfg or
# pyproject.toml change) and the Debian packages the corpus builder needs.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.tfspeech-installed
DEBIAN_PACKAGES := festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k flite espeak-ng sox wordnet-base
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-slow bench debian-packages clean-venv

demo: $(INSTALLED) debian-packages
	$(BIN)/tfspeech demo

test: $(INSTALLED) debian-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: $(INSTALLED) debian-packages
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: $(INSTALLED) debian-packages
	$(BIN)/python -m benchmarks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Installs only what is missing, so a repeated run costs one dpkg-query.
debian-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "Installing Debian packages: $$missing"; \
	    sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

clean-venv:
	rm -rf $(VENV)
