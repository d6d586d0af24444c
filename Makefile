# posekit: every target sets up what it needs from scratch (venv, install, model, extension).
#   make demo   install, fetch the model, run pose estimation on a bundled image
#   make test   install, fetch the model, lint, run the whole test suite on both PAF backends
#   make docs   build the course and the API reference as a static site (docs/_build/html)
#   make docs-test  build the site and check every page in headless Chromium
#   make lab    open JupyterLab on notebooks/
#   make bench  run the benchmarks

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.posekit-installed
OUT    := out
DEMO_IMAGE := images/basketball1.png

.PHONY: install model demo test test-fast docs docs-test lab bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip

# (Re)install when the build files or the C++ sources change; builds posekit._pafprocess.
$(STAMP): pyproject.toml setup.py $(wildcard pafprocess_cpp/*.cpp pafprocess_cpp/*.hpp) | $(PY)
	$(PY) -m pip install --quiet -e ".[notebooks,test,docs]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

model: install
	$(VENV)/bin/posekit fetch mobilenet_thin

demo: model
	$(VENV)/bin/posekit image $(DEMO_IMAGE) --out $(OUT)/demo_pose.png --json $(OUT)/demo_keypoints.json

LINTED := posekit tests benchmarks notebooks docs/conf.py setup.py

# Lint and format checks (notebooks included), the suite with the C++ grouping, then every test that
# reaches the grouping again with the NumPy twin (all but the notebook, browser and Ray-cluster runs).
test: model
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(PY) -m pytest -m "not docs"
	POSEKIT_PURE_PYTHON=1 $(PY) -m pytest -q -m "not notebooks and not browser and not docs" --ignore=tests/test_batch_ray.py

# The site: every notebook executed once per build (cached by jupyter-cache, keyed on the notebook and on
# posekit's sources), warnings (broken cross-references, malformed docstrings) are errors. See docs/README.md.
DOCS_OUT := docs/_build/html
docs: model
	$(VENV)/bin/sphinx-build -b html -n -W --keep-going -q -c docs . $(DOCS_OUT)
	@echo "posekit docs: open file://$(CURDIR)/$(DOCS_OUT)/index.html"

docs-test: docs
	$(PY) -m pytest -q -m docs tests/test_docs_site.py

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
	rm -rf $(OUT) build *.egg-info posekit/_pafprocess*.so docs/_build
