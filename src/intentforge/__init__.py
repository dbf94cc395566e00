"""intentforge: build and run a small private model that turns spoken requests into actions."""

__version__ = "0.1.0"
