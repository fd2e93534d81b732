# Two jobs for a fresh machine: `make demo` (the main job) and `make test`.
# Both create the virtualenv, install the project, and (as root, where missing) TeX Live.
VENV ?= .venv
PY := $(VENV)/bin/python
EXAMPLES := $(wildcard examples/*.toml)

.PHONY: demo test tex generate lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,demo]'
	touch $@

tex:
	@bash .ci/install-tex

demo: $(VENV)/.installed tex
	$(VENV)/bin/derive examples/seed003.toml

test: $(VENV)/.installed tex
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -n 2 -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check derive codegen tests bench

clean:
	rm -rf $(VENV) build *.egg-info
