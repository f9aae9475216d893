"""Email addresses as the system takes and sends to them: checked wherever they enter (the
report task, commands) and again before every send, with a refusal that names whose
address it is and where to correct it.

Django's validate_email is the one rule: it is what the admin's user form applies, so an
address the admin accepts is never refused here.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q

WHERE_TO_CORRECT = "correct it under Users in the admin"

# How a failure that was about the address reads in a delivery's last_error: ours below,
# and the backends' own refusals (describe_error starts with the exception's name).
# Correcting the user's address sends such a delivery again (apps.mailing.readdress).
ADDRESS_FAILURE_WORDS = (
    "has no valid email address",
    "has no email address",
    "is not a valid email address",
    "AnymailRecipientsRefused",
    "AnymailInvalidAddress",
    "SMTPRecipientsRefused",
)


def is_valid(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def whose(user) -> str:
    """The user as operators find them under Users: "Daniel Brooks (daniel)"."""
    name = user.get_full_name()
    return f"{name} ({user.username})" if name else user.username


def user_address_error(user, address: str | None = None) -> str | None:
    """Why `address` (by default the user's own) cannot be sent to, naming the user; None
    when it can."""
    address = user.email if address is None else address
    if not address:
        return f"{whose(user)} has no email address; set one under Users in the admin"
    if not is_valid(address):
        return f"{whose(user)} has no valid email address ({address!r}); {WHERE_TO_CORRECT}"
    return None


def address_error(address: str, user=None) -> str | None:
    """Why `address` cannot be sent to (naming `user`, whom it is for, if known); None
    when it can."""
    if user is not None:
        return user_address_error(user, address)
    if not is_valid(address):
        return f"{address!r} is not a valid email address"
    return None


def address_failures() -> Q:
    """Deliveries whose last failure was about their address (ADDRESS_FAILURE_WORDS)."""
    condition = Q()
    for words in ADDRESS_FAILURE_WORDS:
        condition |= Q(last_error__contains=words)
    return condition
