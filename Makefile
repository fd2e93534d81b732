# Two jobs for a fresh machine: `make demo` (the main job) and `make test`.
# Both create the virtualenv, install the project, and (as root, where missing) TeX Live.
VENV ?= .venv
PY := $(VENV)/bin/python
EXAMPLES := $(wildcard examples/*.toml)

.PHONY: demo test tex generate lint bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,demo,torch]'
	touch $@

tex:
	@bash .ci/install-tex

demo: $(VENV)/.installed tex
	@mkdir -p out
	$(VENV)/bin/derive examples/seed003.toml --example --tex out/seed003.tex --pdf out/seed003.pdf
	$(PY) -m codegen.demo --spec examples/digits.toml --module out/digits.py --plot out/digits_loss.png
	$(PY) -m codegen.demo --spec examples/cnn_digits.toml --module out/cnn_digits.py --plot out/cnn_digits_loss.png

test: $(VENV)/.installed tex
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -n 2 -q

# generated/: every example's training module and its derivation (English and Korean), by the tool
generate: $(VENV)/.installed
	for f in $(EXAMPLES); do n=$$(basename $$f .toml); \
	  $(VENV)/bin/codegen $$f -o generated/$$n.py || exit 1; \
	  $(VENV)/bin/derive $$f --example --tex generated/$$n.tex > /dev/null || exit 1; \
	  $(VENV)/bin/derive $$f --example --lang ko --tex generated/$$n.ko.tex > /dev/null || exit 1; \
	done

bench: $(VENV)/.installed
	$(PY) bench/bench_derive.py
	$(PY) bench/bench_check.py
	$(PY) bench/bench_pdf.py
	$(PY) bench/bench_codegen.py
	$(PY) bench/bench_cnn.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check derive codegen tests bench

clean:
	rm -rf $(VENV) build *.egg-info
