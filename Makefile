# make book : build the static site (executes the chapters in the offline quick profile)
# make test : unit tests, every chapter through nbval, the site build and a browser check
# make lab  : open the chapters in Jupyter Lab
# Each target creates .venv and installs what it needs on a fresh machine with Python 3.11.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# A CPU build of torch (on the book's CI machines it is a local wheel). On a GPU machine use
# `make TORCH=torch ...` to get the registry's default CUDA build instead.
TORCH ?= torch==2.13.0
# Offline, quick profile, no progress bars in stored outputs: what the book and CI run.
OFFLINE := TUTORIALKIT_PROFILE=quick HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TQDM_DISABLE=1

.PHONY: book test lab sync clean browser

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test,docs]"
	touch $@

book: $(VENV)/.installed
	$(OFFLINE) $(BIN)/jupyter-book build . --warningiserror --keep-going

# Debian's chromium for the browser test (CI runs as root; elsewhere install it yourself).
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "chromium not installed: the browser test will be skipped (it runs in CI)"

# nbs/ first: the notebooks' outputs seed the book cache, so tests/test_site.py builds without re-running them.
test: $(VENV)/.installed browser
	$(OFFLINE) $(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 nbs tests

lab: $(VENV)/.installed
	$(BIN)/python -m pip install -q jupyterlab
	$(BIN)/jupyter lab nbs/

# Regenerate each chapter's .ipynb from its .md source (outputs stay stripped).
sync: $(VENV)/.installed
	$(BIN)/jupytext --to ipynb nbs/[0-9]*.md nbs/appendix_*.md

clean:
	rm -rf _build
