"""ml-predictor: learn from deploy-ledger history and answer before each deployment."""

__version__ = "0.1.0"
