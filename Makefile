# Set-up is `make install`; `make serve` and `make test` run it first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test index eval eval-beir clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build, never the multi-gigabyte CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant serve

index: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant index

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

eval: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/report.py

BEIR_DIR ?= ../shared/benchmarks/scifact

# The public benchmark (minutes on 2 cores; embeddings cached in .cache/embeddings/); not part of `make test`.
eval-beir: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant eval --beir $(BEIR_DIR)

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.lock
