# make book : build the static site (executes the chapters in the offline quick profile)
# make test : unit tests, every chapter through nbval, the site build and a browser check
# make lint : ruff (lint, format) and the package's doctests; part of make test
# make rehearse : the full profile's code on a local copy of the Hub (CPU, CI sizes); part of make test
# make full : every chapter in the full profile on a GPU with the Hub; writes results/ (make TORCH=torch full)
# make lab  : open the chapters in Jupyter Lab
# Each target creates .venv and installs what it needs on a fresh machine with Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# A CPU build of torch (on the book's CI machines it is a local wheel). On a GPU machine use
# `make TORCH=torch ...` to get the registry's default CUDA build instead.
TORCH ?= torch==2.13.0
# Offline, quick profile, no progress bars in stored outputs: what the book and CI run.
CLAIMS := $(CURDIR)/_build/claims
OFFLINE := TUTORIALKIT_PROFILE=quick HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TQDM_DISABLE=1 TUTORIALKIT_CLAIMS=$(CLAIMS)
# The rehearsal: the full profile against a local Hub cache built from the packaged resources.
HUB_FIXTURE := _build/hub-cache
REHEARSAL := TUTORIALKIT_PROFILE=full TUTORIALKIT_REHEARSAL=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	HF_HUB_CACHE=$(CURDIR)/$(HUB_FIXTURE) TQDM_DISABLE=1 TUTORIALKIT_CLAIMS=$(CLAIMS)
# --durations: every cell's time in the log (benchmarks/chapter_times.py sums them per chapter)
NBVAL := -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=900 \
	--durations=0 --durations-min=0.5
# Notebooks and test modules run in LANES worker processes (pytest-xdist), one whole file per worker,
# each with one torch thread: on CI's 2 cores two single-threaded lanes finish the suite about a third
# sooner than one lane with two threads (small models scale poorly over threads). `make LANES=1 test`
# runs everything in one process.
LANES ?= 2
PARALLEL := $(if $(filter 1,$(LANES)),,OMP_NUM_THREADS=1)
XDIST := $(if $(filter 1,$(LANES)),,-n $(LANES) --dist loadscope)
RESULTS_PAGE := $(BIN)/python .ci/results_page.py book/results.md $(CLAIMS) results/claims

.PHONY: book test lint rehearse full lab sync clean browser

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,docs]"
	touch $@

# Built twice: the first build executes the chapters (recording their claims), the second adds the
# Results page that lists them (nothing is executed again).
book: $(VENV)/.installed
	$(RESULTS_PAGE)
	$(OFFLINE) $(BIN)/jupyter-book build . --warningiserror --keep-going
	$(RESULTS_PAGE)
	$(OFFLINE) $(BIN)/jupyter-book build . --warningiserror --keep-going

# Debian's chromium for the browser test (CI runs as root; elsewhere install it yourself).
# Each of the two is checked on its own: a machine may have chromium without its driver.
browser:
	@{ command -v chromium && command -v chromedriver; } >/dev/null || { [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver \
		>/dev/null; } || echo "chromium or chromedriver missing: the browser test will be skipped (it runs in CI)"

$(HUB_FIXTURE)/.built: .ci/hub_cache.py $(VENV)/.installed
	$(BIN)/python .ci/hub_cache.py $(HUB_FIXTURE)
	touch $@

# Every chapter with the full profile's code, sources and ids, at CI sizes; claims are recorded.
rehearse: $(VENV)/.installed $(HUB_FIXTURE)/.built
	rm -rf $(CLAIMS)/rehearsal
	$(PARALLEL) $(REHEARSAL) $(BIN)/python $(NBVAL) $(XDIST) nbs/[0-9]*.ipynb nbs/appendix_*.ipynb
	$(BIN)/python -m tutorialkit.claims $(CLAIMS) rehearsal

# The rehearsal, then the chapters and unit tests, then the site: the notebooks' outputs seed the
# book cache, so tests/test_site.py builds without re-running them.
test: $(VENV)/.installed browser lint rehearse
	$(PARALLEL) $(OFFLINE) $(BIN)/python $(NBVAL) $(XDIST) nbs tests --ignore=tests/test_site.py
	$(OFFLINE) $(BIN)/python $(NBVAL) tests/test_site.py

# Style (ruff: lint and format, 88 columns, the chapters' code cells included) and the
# examples in the package's docstrings (doctests).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -p no:cacheprovider -q --doctest-modules tutorialkit

# On a machine with a GPU and the Hub: make TORCH=torch full
full: $(VENV)/.installed
	$(BIN)/python .ci/full_run.py
	$(RESULTS_PAGE)

lab: $(VENV)/.installed
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab nbs/

# Regenerate each chapter's .ipynb from its .md source (outputs stay stripped).
sync: $(VENV)/.installed
	$(BIN)/jupytext --update --to ipynb nbs/[0-9]*.md nbs/appendix_*.md

clean:
	rm -rf _build
