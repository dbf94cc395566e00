# The two commands of the README: `make run` (the main job) and `make test` (the full test suite).
# Both create or reuse .venv. pip keeps built wheels (llama-cpp-python takes ~8.5 min to compile on
# 2 cores) in its cache outside the checkout (~/.cache/pip), so a fresh clone does not rebuild it.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint clean

$(STAMP): pyproject.toml requirements-models.txt deploy/install.sh scripts/install-system-deps.sh
	# System packages (apt; nothing to do when they are there) and the venv (pip) side by side
	bash scripts/install-system-deps.sh & system=$$!; \
	bash deploy/install.sh --venv $(VENV) --profile dev --python $(PYTHON); venv=$$?; \
	wait $$system && exit $$venv
	# llama.cpp's GGUF converter (from the llama-cpp-python sdist on PyPI), cached outside the checkout
	$(BIN)/intentforge export --prepare
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/intentforge run

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest

clean:
	rm -rf build
