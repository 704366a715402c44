from django.apps import AppConfig


class LearnersConfig(AppConfig):
    """One learner across both vendors (reads the appointments and monitoring caches)."""

    name = "proctordash.learners"
