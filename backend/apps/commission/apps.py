from django.apps import AppConfig


class CommissionConfig(AppConfig):
    name = "apps.commission"
    verbose_name = "Commissions"
