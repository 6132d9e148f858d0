"""Allow ``python -m predictor``."""

from predictor.cli import main

main()
