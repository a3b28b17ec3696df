# Set-up is `make install`; `make serve` and `make test` run it first, so each works on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lock lint serve test test-fast index eval eval-beir bench bench-ingest scale red-team clean messages

# The lock files (requirements/*.txt, made by `make lock`): every direct and transitive dependency
# pinned with its hashes. dev.txt is what `make install` installs (the dev and milvus extras);
# base.txt and milvus.txt are the same pins for an install without the test tools.
LOCK := requirements/dev.txt
LOCKS := requirements/base.txt requirements/milvus.txt
PIP_COMPILE = $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --build-deps-for editable

install: $(STAMP)

# Exactly the lock's versions, each file checked against its hash (torch: the local CPU build,
# torch==2.13.0+cpu, never the multi-gigabyte CUDA one); then this project, editable, without
# touching the pins.
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# Upgrading is one deliberate step: re-resolve pyproject.toml's ranges to today's newest releases,
# make .venv equal to the new lock, and run the fast tests; review `git diff requirements/` and
# run `make test` before committing. base.txt and milvus.txt start from dev.txt's pins, so all
# three agree.
lock: install
	$(PIP_COMPILE) --upgrade --extra dev --extra milvus -o $(LOCK) pyproject.toml
	cp $(LOCK) requirements/base.txt
	$(PIP_COMPILE) -o requirements/base.txt pyproject.toml
	cp $(LOCK) requirements/milvus.txt
	$(PIP_COMPILE) --extra milvus -o requirements/milvus.txt pyproject.toml
	$(BIN)/pip-sync --quiet $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)
	$(MAKE) test-fast

serve: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant serve

index: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant index

# Style and types of the package (configured in pyproject.toml); part of `make test`.
lint: install
	$(BIN)/ruff check assistant
	$(BIN)/mypy

test: install lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

# Everything but the slow kinds (real models, Chromium, milvus-lite): the markers in pyproject.toml.
test-fast: install lint
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not models and not browser and not milvus"

eval: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/report.py

BEIR_DIR ?= ../shared/benchmarks/scifact

# The public benchmark (minutes on 2 cores; embeddings cached in .cache/embeddings/); not part of `make test`.
eval-beir: install
	HF_HUB_OFFLINE=1 $(BIN)/assistant eval --beir $(BEIR_DIR)

# Speed, load and memory on this machine (needs Debian's wrk); rewrites eval/bench.md (~7 min),
# then eval/ingest_bench.md (bench-ingest).
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	HF_HUB_OFFLINE=1 $(BIN)/python eval/bench.py
	$(MAKE) bench-ingest

# Reading documents, time against size: a one-paragraph text up to 1 MB, PDFs up to 1,000 pages,
# the documents at the size limits (inputs made on the fly); rewrites eval/ingest_bench.md (~3 min).
bench-ingest: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/ingest_bench.py

# FAISS, BM25 and Milvus-lite at 10k, 100k and 1M synthetic passages; rewrites eval/scale.md.
scale: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/scale.py

# Faults, concurrency and damaged files on a small temporary collection (issue 28's red team):
# kill -9 at random moments and at each step, double faults, 4 adds + 1 remove at once, asks over
# damaged index files, kills before each file-system call; prints its figures (eval/red_team.md).
# ~36 min on 2 cores (twice that under load); a sample: make red-team RED_TEAM_FLAGS="--random 3
# --steps 1 --double 3 --concurrent 3 --damaged 14 --fs-calls 12".
RED_TEAM_FLAGS ?=
red-team: install
	HF_HUB_OFFLINE=1 $(BIN)/python eval/red_team.py $(RED_TEAM_FLAGS)

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
