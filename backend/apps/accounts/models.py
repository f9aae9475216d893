from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """The project's user; sales reps and their managers are both users.

    Made before the first migration, as Django recommends, so that fields can be
    added later without a painful swap.
    """

    def __str__(self) -> str:
        return self.get_full_name() or self.username
