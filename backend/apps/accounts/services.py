"""Writing users: changing a user's email address, which also sends the emails still
owed to them to the new one (apps.mailing.readdress)."""

from collections.abc import Callable

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from apps.mailing.addresses import user_address_error
from apps.mailing.readdress import Readdressed, readdress_owed

PERMISSION = "accounts.change_user"


@transaction.atomic
def change_email(
    user: AbstractBaseUser, email: str, *, by, enqueue: Callable[[int], object]
) -> Readdressed:
    """Set the user's address, as the user `by` (who needs accounts.change_user), and send
    their owed emails there (queued through `enqueue` once the transaction commits).

    Raises ValidationError, naming the user, for an empty or invalid address: every
    address that enters is checked, as the admin's form checks its own.
    """
    if not by.has_perm(PERMISSION):
        raise PermissionDenied(
            f"{by.get_username()} may not change users' addresses: that takes the "
            f"{PERMISSION} permission"
        )
    email = type(user).objects.normalize_email(email.strip())
    problem = user_address_error(user, email)
    if problem:
        raise ValidationError(problem, code="invalid")
    user.email = email
    user.save(update_fields=["email"])
    return readdress_owed(user, by=by, enqueue=enqueue)
