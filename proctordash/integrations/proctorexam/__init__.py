"""ProctorExam v3: `from proctordash.integrations.proctorexam import ProctorExamClient`."""

from .client import ProctorExamClient

__all__ = ["ProctorExamClient"]
