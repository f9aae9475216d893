"""Signal receivers; connected in MailingConfig.ready."""

from . import tracking


def delivery_status_from_tracking(sender, event, esp_name, **kwargs):
    """Anymail's `tracking` signal, sent by the webhook views under /anymail/."""
    tracking.record_tracking_event(event, esp_name)
