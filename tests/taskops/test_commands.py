"""The retry_failed_tasks command's own checks (the retries themselves: taskops/test_services.py
and tests/integration/test_task_retry.py)."""

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_command_rejects_an_unreadable_age():
    with pytest.raises(CommandError, match="not an age"):
        call_command("retry_failed_tasks", "--since", "two hours")
