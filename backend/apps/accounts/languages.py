"""Which language a user reads: the choices, the default, and what to do with a code
that is no longer offered."""

from django.conf import settings
from django.utils import translation


def language_choices() -> list[tuple[str, str]]:
    # A callable, so the migration names it instead of copying settings.LANGUAGES.
    return list(settings.LANGUAGES)


def default_language() -> str:
    # A callable, so the default follows LANGUAGE_CODE of the deployment, not of
    # whoever made the migration.
    return settings.LANGUAGE_CODE


def preferred_language(user) -> str:
    """The user's language if it is still offered (a variant such as 'en-gb' reads the
    base language), else the deployment's default."""
    try:
        return translation.get_supported_language_variant(user.language or "")
    except LookupError:
        return settings.LANGUAGE_CODE
