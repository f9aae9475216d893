"""The configured provider's tracking webhook, and nothing else under /anymail/.

Anymail's own urls mount every provider's tracking and inbound views; unconfigured ones
answer 500 before authentication (each request a Sentry event), and any of them could
post events. Here only the provider EMAIL_BACKEND sends through answers (the others are
404), only while EMAIL_TRACKING_ENABLED is on, and a body that is not what that
provider sends is a 400 (never a 500). https://anymail.dev/en/stable/sending/tracking/
"""

import json
import logging

from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.http import Http404, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt

from .providers import configured_provider

logger = logging.getLogger(__name__)

# Provider (as in its Anymail backend's module) -> its tracking view, and the JSON
# its webhook posts: an object, or (SendGrid) an array of events.
TRACKING_VIEWS = {
    "postmark": (PostmarkTrackingWebhookView, dict),
    "mailgun": (MailgunTrackingWebhookView, dict),
    "sendgrid": (SendGridTrackingWebhookView, list),
    "brevo": (BrevoTrackingWebhookView, dict),
    "amazon_ses": (AmazonSESTrackingWebhookView, dict),
}
# Each provider's view, made once.
_VIEWS = {provider: view.as_view() for provider, (view, _) in TRACKING_VIEWS.items()}


@csrf_exempt
def tracking_webhook(request, provider: str):
    """/anymail/<provider>/tracking/: the configured provider's Anymail view (it checks
    ANYMAIL_WEBHOOK_SECRET), behind a check that the body is what that provider sends."""
    if (
        not settings.EMAIL_TRACKING_ENABLED
        or provider != configured_provider()
        or provider not in TRACKING_VIEWS
    ):
        raise Http404("no tracking webhook for this provider here")
    _, body_type = TRACKING_VIEWS[provider]
    if request.method == "POST" and request.content_type != "multipart/form-data":
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, body_type):
            logger.warning("Tracking webhook body refused: not a JSON %s", body_type.__name__)
            return HttpResponseBadRequest(f"expected a JSON {body_type.__name__}")
    try:
        return _VIEWS[provider](request)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # The provider's parser choked on a body of the right kind but the wrong shape.
        logger.warning("Tracking webhook body refused: %s: %s", type(exc).__name__, exc)
        return HttpResponseBadRequest("malformed tracking event")
