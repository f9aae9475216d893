from django.apps import AppConfig


class MailingConfig(AppConfig):
    name = "apps.mailing"
    verbose_name = "Mailing"
