# Set-up and the two commands of the README: `make demo` and `make test`.
# Both create .venv on first use and reinstall only when requirements*.txt or
# pyproject.toml changed (stamp files in .venv), so a second run starts at once.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
RUNTIME_STAMP := $(VENV)/.runtime-installed
TEST_STAMP := $(VENV)/.test-installed
# Keep library caches and model-library config inside the project, and stay offline.
export YOLO_CONFIG_DIR ?= $(CURDIR)/output/.ultralytics
export YOLO_OFFLINE ?= 1
export HF_HUB_OFFLINE ?= 1

.PHONY: demo test test-fast install clean-demo help

help:
	@echo "make demo       set up .venv and run the pipeline on the embedded synthetic dataset"
	@echo "make test       set up .venv (with test tools) and run the whole test suite (what CI runs)"
	@echo "make test-fast  the suite without tests marked slow"
	@echo "make install    only set up .venv"

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is needed (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt pyproject.toml | $(PY)
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps -e .
	@touch $@

$(TEST_STAMP): requirements-test.txt $(RUNTIME_STAMP)
	$(PIP) install --quiet -r requirements-test.txt
	@touch $@

install: $(RUNTIME_STAMP)

# One pytest-xdist worker per core (each single-threaded, see tests/conftest.py); TEST_WORKERS=0
# runs the suite in one process.
TEST_WORKERS ?= auto

test: $(TEST_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) -m "not slow"

DEMO_DIR ?= output/demo
DEMO_RAW := $(DEMO_DIR)/synthetic_casia_b
DEMO_WORK := $(DEMO_DIR)/casia_b_work
DEMO_CFG ?= opengait/configs/hybridgait/hybridgait_synthetic.yaml

demo: $(RUNTIME_STAMP)
	@echo "== HybridGait demo: generate -> preprocess -> train -> evaluate =="
	$(PY) datasets_preprocess/synthetic/make_synthetic_gait.py --layout casia_b --out $(DEMO_RAW)
	$(PY) datasets_preprocess/casia_b/make_pose_gei.py --silhouettes $(DEMO_RAW)/silhouettes --pose-from $(DEMO_RAW)/poses --out $(DEMO_WORK)
	$(PY) datasets_preprocess/casia_b/rearrange_to_grew.py --silhouettes $(DEMO_RAW)/silhouettes --out $(DEMO_WORK)
	$(PY) opengait/opengait/main.py --cfgs $(DEMO_CFG) --phase train --set trainer_cfg.restore_hint=latest
	$(PY) opengait/opengait/main.py --cfgs $(DEMO_CFG) --phase test
	@echo "Runs: output/synthetic_casia_b/ (checkpoints, TensorBoard summary/, eval/); view with"
	@echo "  .venv/bin/tensorboard --logdir output/synthetic_casia_b"

clean-demo:
	rm -rf $(DEMO_DIR) output/synthetic_casia_b
