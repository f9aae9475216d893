from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CommissionConfig(AppConfig):
    name = "apps.commission"
    verbose_name = "Commissions"

    def ready(self):
        from .schedule import follow_time_zone

        post_migrate.connect(follow_time_zone, sender=self, dispatch_uid="commission.time_zone")
