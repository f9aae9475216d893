"""What the code knows of each transactional provider, by the name of its Anymail
backend's module ("postmark", "brevo", ...)."""

from django.conf import settings

ALIASES = {"sendinblue": "brevo"}

# Providers whose send API drops a repeat of a request that carries the same key, and
# the message header Anymail passes it in. Brevo: a UUID in the payload's "headers",
# honoured for 30 minutes (https://developers.brevo.com/docs/heterogenous-versions-batch-emails).
# Postmark, Mailgun, SendGrid and Amazon SES take no such key.
IDEMPOTENCY_HEADERS = {"brevo": "idempotencyKey"}


def configured_provider() -> str:
    """The provider EMAIL_BACKEND sends through, or "" for Django's own backends
    (console, SMTP, files)."""
    parts = settings.EMAIL_BACKEND.split(".")
    if len(parts) == 4 and parts[:2] == ["anymail", "backends"]:
        return ALIASES.get(parts[2], parts[2])
    return ""


def provider_of(esp_name: str) -> str:
    """Anymail's display name of a provider ("Amazon SES") as configured_provider says it."""
    slug = esp_name.lower().replace(" ", "_")
    return ALIASES.get(slug, slug)
