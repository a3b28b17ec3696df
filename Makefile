# Set-up is `make install`; `make serve` and `make test` run it first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test index eval eval-beir bench scale clean messages

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: the local CPU build, never the multi-gigabyte CUDA one.
	$(BIN)/pip install --quiet torch==2.13.0
	# dev includes the Milvus extra: `make test` checks that backend against FAISS on milvus-lite.
	$(BIN)/pip install --quiet -e '.[dev,milvus]'
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

# Speed, load and memory on this machine (needs Debian's wrk); rewrites eval/bench.md (~7 min).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(BIN)/python eval/bench.py

# FAISS, BM25 and Milvus-lite at 10k, 100k and 1M synthetic passages; rewrites eval/scale.md.
scale: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/scale.py

# Interface translations: extract the messages of the code and templates, merge them into the
# Russian and Kazakh catalogues (assistant/locale/*/LC_MESSAGES/messages.po, edited by hand), and
# compile the .mo files the program reads (committed, so an install needs no build step).
LOCALES := ru kk
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k n_:1,2 --no-location --sort-output --omit-header -w 100 \
		--project assistant -o assistant/locale/messages.pot .
	for lang in $(LOCALES); do \
		$(BIN)/pybabel update --no-fuzzy-matching -w 100 -D messages -l $$lang \
			-i assistant/locale/messages.pot -d assistant/locale; done
	$(BIN)/pybabel compile --statistics -D messages -d assistant/locale

clean:
	rm -rf $(VENV) index/CURRENT index/build-* index/.lock index/milvus.db
