"""Build the compiled parts (predictor/models/_kernel.c, predictor/_wirecheck.c, predictor/_sexp.c,
predictor/_shapes.c); the
rest is in pyproject.toml.

The extensions are optional: where no C compiler is at hand the build goes on without it and
predictor falls back to the numpy form of the same loops (``predictor.models.packed``), to
the Python form of the protocol's profile check (``predictor.protocol.decode``) and to the
Python S-expression reader (``predictor.sexp.py_iter_data``) and to the Python deployment checks
alone (``predictor.daemon.shapes``, ``predictor.models.answers``).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("predictor.models._kernel", ["predictor/models/_kernel.c"], extra_compile_args=["-O3", "-std=c11", "-ffp-contract=off"],
              optional=True),
    Extension("predictor._wirecheck", ["predictor/_wirecheck.c"], extra_compile_args=["-O3", "-std=c11"],
              optional=True),
    Extension("predictor._sexp", ["predictor/_sexp.c"], extra_compile_args=["-O3", "-std=c11"],
              optional=True),
    Extension("predictor._shapes", ["predictor/_shapes.c"], extra_compile_args=["-O3", "-std=c11"],
              optional=True),
    Extension("predictor.daemon._zmqloop", ["predictor/daemon/_zmqloop.c"], extra_compile_args=["-O3", "-std=c11"],
              optional=True),
])
