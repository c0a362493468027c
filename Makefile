# The two commands: `make run` (the course) and `make test` (the test suite). Each sets up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup run run-mnist test lint format test-browser demo build check lab bench release clean help
.DEFAULT_GOAL := help

help:
	@echo "make run    set up .venv, build the notebooks, execute every lesson headless, print a row each"
	@echo "make run-mnist  the lessons that read COURSE_TRACK, on 28x28 MNIST (offline: 5,000 packaged images)"
	@echo "make test   set up .venv and run the whole test suite (what CI runs), ruff's lint first"
	@echo "make format ruff's fixes and formatting in place (make lint: the check alone)"
	@echo "make lab    open JupyterLab on notebooks/ (the student versions)"
	@echo "make demo   the lecture dashboard: three widgets on trained models, served by Voila"
	@echo "make test-browser  install Chromium if missing, then run the browser tests alone"
	@echo "make bench  wall time and quality of each lesson beside published references"
	@echo "make build  regenerate solutions/*.ipynb and notebooks/*.ipynb from solutions/*.py"
	@echo "make release [LESSON=01_autoencoder]  the student bundle in build/release[-LESSON]: notebooks, the library's wheel, a README"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@touch $@

setup: $(STAMP)

run: setup
	$(PY) -m course_tools run --out build/run

# the lessons that read COURSE_TRACK, on 28x28 MNIST (the packaged subset offline)
run-mnist: setup
	$(PY) -m course_tools run --track mnist --out build/run-mnist

# The linter and the formatter's check (ruff, settings in pyproject.toml), the tests, then the six
# solution notebooks under nbval (fast mode, one execution each; conftest.py)
test: setup lint
	$(PY) -m pytest tests solutions --nbval-lax --nbval-current-env --junitxml=build/test-reports/junit.xml

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# ruff's fixes and formatting, in place (the lessons are linted, not reformatted)
format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test-browser: setup
	.ci/install-chromium
	COURSE_BROWSER_REQUIRED=1 $(PY) -m pytest tests/browser --junitxml=build/test-reports/junit-browser.xml

build: setup
	$(PY) -m course_tools build

check: setup
	$(PY) -m course_tools build --check

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

demo: setup
	$(PY) -m course_tools demo

bench: setup
	$(PY) -m course_tools bench --out build/bench

release: setup
	$(PY) -m course_tools release --out build/release$(if $(LESSON),-$(LESSON)) $(if $(LESSON),--lesson $(LESSON))

clean:
	rm -rf build .pytest_cache
