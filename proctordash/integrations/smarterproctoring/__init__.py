"""SmarterProctoring v1: `from proctordash.integrations.smarterproctoring import SmarterProctoringClient`."""

from .client import SmarterProctoringClient

__all__ = ["SmarterProctoringClient"]
