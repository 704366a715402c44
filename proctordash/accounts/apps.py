from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "proctordash.accounts"
    verbose_name = "Staff and roles"
