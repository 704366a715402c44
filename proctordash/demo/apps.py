from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`make demo`'s set-up (the demo_setup command): the only part that knows both the staff accounts and the
    sandbox's generated courses."""

    name = "proctordash.demo"
    label = "demo"
