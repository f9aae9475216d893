"""Management commands as an operator runs them."""

from io import StringIO

from django.core.management import call_command


def call(*args) -> str:
    """What `manage.py ARGS` prints."""
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()
