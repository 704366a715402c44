from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "proctordash.sync"
    label = "sync"
    verbose_name = "Data sync"
