"""The configured provider's tracking webhook, and nothing else under /anymail/.

Anymail's own urls mount every provider's tracking and inbound views; unconfigured ones
answer 500 before authentication (each request a Sentry event), and any of them could
post events. Here only the provider EMAIL_BACKEND sends through answers (the others are
404), only while EMAIL_TRACKING_ENABLED is on, and a body that is not what that
provider sends is a 400 (never a 500). https://anymail.dev/en/stable/sending/tracking/

Anyone can post here, so refusing is cheap and quiet: the basic-auth credentials are
checked from the headers before the body is read (401), the body's size from its
Content-Length (413), and only then is it parsed (400 when it is not the provider's
JSON). Each refusal is one WARNING line and one count in
commission_webhook_refused_total{reason}; Anymail would raise a SuspiciousOperation,
which Django logs at ERROR (a Sentry event per anonymous post). Anymail's own
credential check still runs behind ours.
"""

import json
import logging

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.log import log_response
from django.views.decorators.csrf import csrf_exempt

from core.http_auth import basic_auth_matches
from core.metrics import webhook_refused

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
    """/anymail/<provider>/tracking/: the configured provider's Anymail view, behind
    the credentials, a size limit and a check that the body is what it sends."""
    if (
        not settings.EMAIL_TRACKING_ENABLED
        or provider != configured_provider()
        or provider not in TRACKING_VIEWS
    ):
        raise Http404("no tracking webhook for this provider here")
    allowed = settings.ANYMAIL.get("WEBHOOK_SECRET") or []
    if not basic_auth_matches(request, [allowed] if isinstance(allowed, str) else allowed):
        response = HttpResponse("basic-auth credentials required", status=401)
        response["WWW-Authenticate"] = 'Basic realm="tracking webhook"'
        return refused(request, response, "credentials", "missing or wrong basic auth")
    if declared_length(request) > settings.TRACKING_WEBHOOK_MAX_BYTES:
        return too_large(request)
    _, body_type = TRACKING_VIEWS[provider]
    try:
        # Django reads at most Content-Length bytes (checked above) from the stream, so
        # a request that sends more, or a chunked one without a length, cannot go over.
        body = request.body
    except RequestDataTooBig:  # only if DATA_UPLOAD_MAX_MEMORY_SIZE goes below our limit
        return too_large(request)
    if request.method == "POST" and request.content_type != "multipart/form-data":
        try:
            event = json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested
            return malformed(request, f"not JSON: {type(exc).__name__}")
        if not isinstance(event, body_type):
            return malformed(request, f"not a JSON {body_type.__name__}")
    try:
        return _VIEWS[provider](request)
    except AnymailWebhookValidationFailure as exc:
        # Anymail's own checks (basic auth again; Mailgun's and SES's signatures).
        response = HttpResponse("webhook validation failed", status=400)
        return refused(request, response, "credentials", str(exc))
    except (
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        RecursionError,
        MultiPartParserError,
    ) as exc:
        # The provider's parser choked on a body of the right kind but the wrong shape
        # (or on nesting our parse, higher up the stack, still managed).
        return malformed(request, f"{type(exc).__name__}: {exc}")


def declared_length(request) -> int:
    """The request's Content-Length; 0 when missing or invalid, as Django reads it."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large(request) -> HttpResponse:
    limit = settings.TRACKING_WEBHOOK_MAX_BYTES
    response = HttpResponse(f"body over {limit} bytes", status=413)
    return refused(request, response, "too_large", f"body over {limit} bytes")


def malformed(request, detail: str) -> HttpResponse:
    response = HttpResponse("malformed tracking event", status=400)
    return refused(request, response, "malformed", detail)


def refused(request, response: HttpResponse, reason: str, detail: str) -> HttpResponse:
    """Count the refusal and log it: one WARNING, which also marks the response as
    logged, so Django's request logger does not add a second line for the 4xx."""
    webhook_refused.labels(reason).inc()
    log_response(
        "Tracking webhook refused (%s): %s: %s",
        reason,
        detail,
        request.path,
        response=response,
        request=request,
        logger=logger,
    )
    return response
