"""avsync: keeps a talking avatar's lips in sync with its voice."""

__version__ = "0.1.0"

__all__ = ["__version__"]
