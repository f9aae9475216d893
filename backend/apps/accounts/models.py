from django.contrib.auth.models import AbstractUser
from django.db import models

from core.validators import PlainTextValidator

from .languages import default_language, language_choices


class User(AbstractUser):
    """The project's user; sales reps and their managers are both users.

    Made before the first migration, as Django recommends, so that fields can be
    added later without a painful swap.
    """

    # Names appear in report emails and CSV files: plain text on one line.
    first_name = models.CharField(
        "first name", max_length=150, blank=True, validators=[PlainTextValidator()]
    )
    last_name = models.CharField(
        "last name", max_length=150, blank=True, validators=[PlainTextValidator()]
    )
    # What the user's report emails are written in (apps.accounts.languages).
    language = models.CharField(
        "language",
        max_length=16,
        choices=language_choices,
        default=default_language,
        help_text="The language of this user's commission reports.",
    )

    def __str__(self) -> str:
        return self.get_full_name() or self.username
