# posekit: every target sets up what it needs from scratch (venv, install, model, extension).
#   make demo   install, fetch the model, run pose estimation on a bundled image
#   make test   install, fetch the model, lint, run the whole test suite on both PAF backends
#   make lab    open JupyterLab on notebooks/
#   make bench  run the benchmarks

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.posekit-installed
OUT    := out
DEMO_IMAGE := images/basketball1.png

.PHONY: install model demo test test-fast lab bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

# (Re)install when the build files or the C++ sources change; builds posekit._pafprocess.
$(STAMP): pyproject.toml setup.py $(wildcard pafprocess_cpp/*.cpp pafprocess_cpp/*.hpp) | $(PY)
	$(PY) -m pip install --quiet -e ".[notebooks,test]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

model: install
	$(VENV)/bin/posekit fetch mobilenet_thin

demo: model
	$(VENV)/bin/posekit image $(DEMO_IMAGE) --out $(OUT)/demo_pose.png --json $(OUT)/demo_keypoints.json

LINTED := posekit tests benchmarks notebooks setup.py

# Lint and format checks (notebooks included), the suite with the C++ grouping, then every test that
# reaches the grouping again with the NumPy twin (all but the notebook, browser and Ray-cluster runs).
test: model
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) -m pytest
	POSEKIT_PURE_PYTHON=1 $(PY) -m pytest -q -m "not notebooks and not browser" --ignore=tests/test_batch_ray.py

# Bound to this machine only; as root (common in containers) JupyterLab needs --allow-root.
LAB_FLAGS := --ip=127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: install
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) notebooks/

bench: model
	$(PY) benchmarks/bench_image.py
	$(PY) benchmarks/bench_paf.py
	$(PY) benchmarks/bench_video.py
	$(PY) benchmarks/bench_precision.py

clean:
	rm -rf $(OUT) build *.egg-info posekit/_pafprocess*.so
