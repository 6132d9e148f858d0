"""Build the compiled kernel (predictor/models/_kernel.c); everything else is in pyproject.toml.

The kernel is optional: where no C compiler is at hand the build goes on without it and
predictor falls back to the numpy form of the same loops (``predictor.models.kernel``).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("predictor.models._kernel", ["predictor/models/_kernel.c"],
                             extra_compile_args=["-O3", "-std=c11"], optional=True)])
