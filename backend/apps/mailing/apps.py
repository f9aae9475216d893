from django.apps import AppConfig
from django.core import checks


class MailingConfig(AppConfig):
    name = "apps.mailing"
    verbose_name = "Mailing"

    def ready(self):
        from anymail.signals import tracking

        from . import checks as mailing_checks
        from .receivers import delivery_status_from_tracking

        tracking.connect(delivery_status_from_tracking, dispatch_uid="mailing.delivery_status")
        checks.register(mailing_checks.check_retry_fits_visibility_timeout)
        checks.register(mailing_checks.check_provider_timeout_fits_task)
