# Makefile -- the project's entry points. `make demo` and `make test` are the README's two commands.
.PHONY: setup demo test bench

setup:
	@scripts/setup

demo: setup
	.venv/bin/predictor demo

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/python bench/run_all.py
