# Set-up is two commands on a fresh machine with python3 and git: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench bench-run bench-run-llm bench-validate bench-diff bench-merge bench-index bench-memory bench-studio bench-history bench-report clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,promptflow]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) demo/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

bench: $(STAMP)
	$(PY) bench/validate.py
	$(PY) bench/diff.py
	$(PY) bench/merge.py
	$(PY) bench/index.py
	$(PY) bench/run.py
	$(PY) bench/run_llm.py
	$(PY) bench/memory.py
	$(PY) bench/studio.py
	$(PY) bench/history.py
	$(PY) bench/report.py

bench-run: $(STAMP)  # pfgit run vs pf run create (1,000 lines), 100,000-line run peak memory (~5 min)
	$(PY) bench/run.py

bench-run-llm: $(STAMP)  # 1,000-line llm flow vs the fake OpenAI server at 50 ms, pfgit vs pf (~5 min); corpus llm parity
	$(PY) bench/run_llm.py
	$(PY) bench/parity_llm.py

bench-validate: $(STAMP)  # pfgit validate vs pf flow validate on every corpus flow (~5 min)
	$(PY) bench/validate.py

bench-diff: $(STAMP)  # 2,000-node semantic diff; git log -p with the driver vs plain (~20 s)
	$(PY) bench/diff.py

bench-merge: $(STAMP)  # merge driver per flow file and on a 2,000-node flow vs git merge-file (~40 s)
	$(PY) bench/merge.py

bench-index: $(STAMP)  # run index: 100,000 runs over 10,000 commits; hooks; vs pf run list (~8 min)
	$(PY) bench/index.py

bench-memory: $(STAMP)  # max RSS: record with a 300 MB untracked file, stream 100 MB after gc (~1 min)
	$(PY) bench/memory.py

.PHONY: bench-scale
bench-scale: $(STAMP)  # validate/diff/merge-file CPU on 2,000-20,000 nodes and pathological flows; 500-flow repo (~3 min)
	$(PY) bench/scale.py

bench-history: $(STAMP)  # blame and log --node on 2,000 commits of a 50-node flow vs git blame / log -L (~5 min)
	$(PY) bench/history.py

clean:
	rm -rf $(VENV) build *.egg-info

bench-studio: $(STAMP)  # export-zip / import-zip vs git archive / unzip on a 300-version flow (~1 min)
	$(PY) bench/studio.py

bench-report: $(STAMP)  # pfgit report on 1,000 commits x 10 metrics vs git log (~1 min)
	$(PY) bench/report.py
