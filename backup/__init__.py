"""audience: follower backup and audience portability."""

__version__ = "0.1.0"
