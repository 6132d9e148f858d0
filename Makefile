# Makefile -- the project's entry points. `make demo` and `make test` are the README's two commands.
.PHONY: setup demo test bench experiment

setup:
	@scripts/setup

demo: setup
	.venv/bin/predictor demo

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python bench/run_all.py

# Experiment 001 (tangle/experiments/001-ml-predictions/README.org): tangle it with org-babel
# in batch mode, then run it end to end on demo data.
experiment: setup
	tangle/tangle.sh tangle/experiments/001-ml-predictions/README.org
	PREDICTOR="$(CURDIR)/.venv/bin/predictor" PYTHON="$(CURDIR)/.venv/bin/python" \
	  tangle/experiments/001-ml-predictions/run-experiment.sh

# Install the Guile plugin (deploy-ledger plugins ml-predictor) into Guile's site directory.
.PHONY: install
install:
	@site="$(DESTDIR)$$(guile -c '(display (%site-dir))')" && \
	install -d "$$site/deploy-ledger/plugins/ml-predictor" && \
	install -m 644 scheme/deploy-ledger/plugins/ml-predictor.scm "$$site/deploy-ledger/plugins/" && \
	install -m 644 scheme/deploy-ledger/plugins/ml-predictor/*.scm "$$site/deploy-ledger/plugins/ml-predictor/" && \
	echo "installed (deploy-ledger plugins ml-predictor) in $$site"
