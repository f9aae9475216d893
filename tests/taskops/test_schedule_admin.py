"""The periodic tasks admin (apps.taskops.schedule_admin): each action behind its own
permission and in the admin log; only the schedulable tasks, with arguments their
signatures take, for anyone but a superuser."""

import importlib
from unittest import mock

import pytest
from django.apps import apps
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from apps.taskops.schedulable import SCHEDULABLE_TASKS, check_entry
from tests.support.admin import offered_actions, staff_user

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:django_celery_beat_periodictask_changelist")
ADD = reverse("admin:django_celery_beat_periodictask_add")
MONTHLY = "apps.commission.tasks.send_monthly_commission_reports"
RECONCILERS = (
    "apps.commission.tasks.reconcile_report_requests",
    "apps.mailing.tasks.reconcile_deliveries",
)
REPORT_TASK = "apps.commission.tasks.generate_and_send_commission_report"

VIEW = "django_celery_beat.view_periodictask"
ADD_PERM = "django_celery_beat.add_periodictask"
CHANGE_PERM = "django_celery_beat.change_periodictask"
RUN = "taskops.run_scheduled_task"
SWITCHES = {"enable_tasks", "disable_tasks", "toggle_tasks"}
ALL_ACTIONS = {*SWITCHES, "run_tasks"}


@pytest.fixture
def every_minute():
    return IntervalSchedule.objects.get_or_create(every=60, period="seconds")[0]


@pytest.fixture
def entries(every_minute):
    """The monthly send and both reconcilers, enabled, each run once already."""
    ran_at = timezone.now()
    return [
        PeriodicTask.objects.create(
            name=f"test {task.rsplit('.', 1)[-1]}",
            task=task,
            interval=every_minute,
            last_run_at=ran_at,
        )
        for task in (MONTHLY, *RECONCILERS)
    ]


@pytest.fixture
def send_task(celery_app):
    """Stands in for the broker: what the admin sends is recorded, nothing is queued."""
    with mock.patch.object(celery_app, "send_task") as send:
        yield send


def snapshot(entries) -> list[tuple]:
    return [
        (entry.enabled, entry.last_run_at, entry.task, entry.args, entry.kwargs)
        for entry in PeriodicTask.objects.filter(pk__in=[e.pk for e in entries]).order_by("pk")
    ]


def act(client, action: str, entries):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [entry.pk for entry in entries]}
    )


def log_messages(entries) -> list[tuple[str, str]]:
    """(object id, message) of the admin log's entries about these periodic tasks."""
    content_type = ContentType.objects.get_for_model(PeriodicTask)
    return list(
        LogEntry.objects.filter(
            content_type=content_type, object_id__in=[str(entry.pk) for entry in entries]
        )
        .order_by("pk")
        .values_list("object_id", "change_message")
    )


# WHO IS OFFERED WHAT
# ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("permissions", "offered"),
    [
        ((VIEW,), set()),
        ((VIEW, CHANGE_PERM), SWITCHES),
        ((VIEW, RUN), {"run_tasks"}),
        ((VIEW, CHANGE_PERM, RUN), ALL_ACTIONS),
    ],
)
def test_each_action_is_offered_only_with_its_permission(client, entries, permissions, offered):
    client.force_login(staff_user(*permissions))

    assert offered_actions(client, CHANGELIST) == offered


@pytest.mark.parametrize("action", sorted(ALL_ACTIONS))
def test_a_forged_action_from_a_view_only_user_changes_and_sends_nothing(
    client, entries, send_task, action
):
    PeriodicTask.objects.filter(pk=entries[0].pk).update(enabled=False)
    before = snapshot(entries)
    client.force_login(staff_user(VIEW))

    response = act(client, action, entries)

    # No action is offered, so Django runs none: the POST just shows the list.
    assert response.status_code == 200
    assert response.context["cl"].model is PeriodicTask
    assert snapshot(entries) == before
    assert not send_task.called
    assert log_messages(entries) == []


def test_a_view_only_user_sees_an_entry_and_cannot_save_it(client, entries):
    client.force_login(staff_user(VIEW))
    url = reverse("admin:django_celery_beat_periodictask_change", args=[entries[0].pk])

    page = client.get(url)

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert client.post(url, {"name": "renamed", "task": MONTHLY}).status_code == 403
    assert PeriodicTask.objects.get(pk=entries[0].pk).name == entries[0].name


@pytest.mark.parametrize(
    ("permissions", "action"),
    [
        ((VIEW, RUN), "disable_tasks"),
        ((VIEW, RUN), "toggle_tasks"),
        ((VIEW, CHANGE_PERM), "run_tasks"),
    ],
)
def test_a_forged_action_the_user_is_not_offered_changes_and_sends_nothing(
    client, entries, send_task, permissions, action
):
    before = snapshot(entries)
    client.force_login(staff_user(*permissions))

    response = act(client, action, entries)

    assert response.status_code == 302  # back to the list, with the reason
    listed = client.get(response.url)
    assert [str(message) for message in listed.context["messages"]] == ["No action selected."]
    assert snapshot(entries) == before
    assert not send_task.called
    assert log_messages(entries) == []


# SWITCHING ON AND OFF
# ------------------------------------------------------------------------------


def test_disable_and_enable_write_one_log_entry_per_entry(client, entries):
    user = staff_user(VIEW, CHANGE_PERM)
    client.force_login(user)
    tracked = PeriodicTasks.last_change()

    act(client, "disable_tasks", entries)

    assert [
        (e.enabled, e.last_run_at)
        for e in PeriodicTask.objects.filter(pk__in=[e.pk for e in entries])
    ] == [(False, None)] * 3
    assert PeriodicTasks.last_change() != tracked  # beat reloads its schedule
    assert log_messages(entries) == [
        (str(entry.pk), "Disabled with the action 'Disable selected tasks'")
        for entry in sorted(entries, key=lambda e: e.name)
    ]
    assert set(LogEntry.objects.values_list("user_id", "action_flag")) == {(user.pk, CHANGE)}

    act(client, "enable_tasks", entries[:2])

    assert [
        e.enabled
        for e in PeriodicTask.objects.order_by("pk").filter(pk__in=[e.pk for e in entries])
    ] == [True, True, False]
    assert log_messages(entries)[3:] == [
        (str(entry.pk), "Enabled with the action 'Enable selected tasks'")
        for entry in sorted(entries[:2], key=lambda e: e.name)
    ]


def test_toggle_flips_each_entry_and_says_which_way(client, entries):
    monthly, reports, emails = entries
    PeriodicTask.objects.filter(pk=reports.pk).update(enabled=False)
    client.force_login(staff_user(VIEW, CHANGE_PERM))

    act(client, "toggle_tasks", [monthly, reports])

    assert dict(
        PeriodicTask.objects.values_list("pk", "enabled").filter(pk__in=[e.pk for e in entries])
    ) == {
        monthly.pk: False,
        reports.pk: True,
        emails.pk: True,
    }
    assert sorted(log_messages(entries)) == sorted(
        [
            (str(monthly.pk), "Disabled with the action 'Toggle activity of selected tasks'"),
            (str(reports.pk), "Enabled with the action 'Toggle activity of selected tasks'"),
        ]
    )


def test_an_entry_already_so_is_not_written_or_logged(client, entries):
    client.force_login(staff_user(VIEW, CHANGE_PERM))

    response = act(client, "enable_tasks", entries)

    assert log_messages(entries) == []
    listed = [str(message) for message in client.get(response.url).context["messages"]]
    assert listed == ["Already so, unchanged: " + "; ".join(sorted(e.name for e in entries))]


@pytest.fixture
def foreign_entry(every_minute):
    """An entry a superuser scheduled, off the allow-list, switched off."""
    return PeriodicTask.objects.create(
        name="one manager's report",
        task=REPORT_TASK,
        args='[1, "2025-09", "x1"]',
        interval=every_minute,
        enabled=False,
    )


def test_only_a_superuser_may_switch_on_an_entry_off_the_allow_list(
    client, admin_client, foreign_entry
):
    client.force_login(staff_user(VIEW, CHANGE_PERM))

    act(client, "enable_tasks", [foreign_entry])
    act(client, "toggle_tasks", [foreign_entry])

    foreign_entry.refresh_from_db()
    assert not foreign_entry.enabled
    assert log_messages([foreign_entry]) == []

    act(admin_client, "enable_tasks", [foreign_entry])

    foreign_entry.refresh_from_db()
    assert foreign_entry.enabled
    assert len(log_messages([foreign_entry])) == 1


# RUNNING NOW
# ------------------------------------------------------------------------------


def test_running_an_entry_now_sends_its_task_and_logs_who_and_which_task(
    client, entries, send_task, celery_app
):
    monthly = entries[0]
    PeriodicTask.objects.filter(pk=monthly.pk).update(kwargs='{"period": "2025-09"}')
    before = snapshot(entries)
    user = staff_user(VIEW, RUN)
    client.force_login(user)

    act(client, "run_tasks", [monthly])

    [(object_id, message)] = log_messages(entries)
    assert object_id == str(monthly.pk)
    task_id = message.rsplit(" ", 1)[-1]
    assert message == f"Ran now by {user.username}: {MONTHLY} sent as task {task_id}"
    assert LogEntry.objects.get().user == user
    send_task.assert_called_once()
    name, args, kwargs = send_task.call_args.args
    assert (name, args, kwargs) == (MONTHLY, [], {"period": "2025-09"})
    sent = send_task.call_args.kwargs
    assert sent["task_id"] == task_id
    assert sent["headers"] == {"periodic_task_name": monthly.name}
    # No queue of its own: its route decides, as for any other call.
    assert sent["queue"] is None
    assert celery_app.amqp.router.route(sent, name, args, kwargs)["queue"].name == "reports"
    assert snapshot(entries) == before


def test_a_broker_that_refuses_the_run_leaves_no_log_entry(client, entries, send_task):
    from kombu.exceptions import OperationalError

    send_task.side_effect = OperationalError("Connection refused")
    client.force_login(staff_user(VIEW, RUN))

    response = act(client, "run_tasks", entries[:1])

    assert log_messages(entries) == []
    listed = [str(message) for message in client.get(response.url).context["messages"]]
    assert listed == [f"Not run: {entries[0].name}: Connection refused"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ("[1, 2, 3, 4]", "takes from 1 to 3 positional arguments but 4 were given"),
        ("[1,", "its arguments are not JSON"),
    ],
)
def test_an_entry_that_cannot_be_sent_is_reported_not_run_and_not_logged(
    admin_client, foreign_entry, send_task, args, reason
):
    PeriodicTask.objects.filter(pk=foreign_entry.pk).update(args=args)

    response = act(admin_client, "run_tasks", [foreign_entry])

    [message] = [str(m) for m in admin_client.get(response.url).context["messages"]]
    assert message.startswith(f"Not run: {foreign_entry.name}: ") and reason in message
    assert not send_task.called
    assert log_messages([foreign_entry]) == []


def test_only_a_superuser_may_run_an_entry_off_the_allow_list(
    client, admin_client, foreign_entry, send_task
):
    client.force_login(staff_user(VIEW, RUN))

    act(client, "run_tasks", [foreign_entry])

    assert not send_task.called
    assert log_messages([foreign_entry]) == []

    act(admin_client, "run_tasks", [foreign_entry])

    assert send_task.call_args.args == (REPORT_TASK, [1, "2025-09", "x1"], {})
    assert len(log_messages([foreign_entry])) == 1


# ADDING AND CHANGING
# ------------------------------------------------------------------------------


def entry_form(every_minute, **fields) -> dict:
    """The add/change form's POST for an entry running every minute."""
    return {
        "name": "scheduled by a test",
        "regtask": "",
        "task": MONTHLY,
        "enabled": "on",
        "description": "",
        "interval": every_minute.pk,
        "crontab": "",
        "solar": "",
        "clocked": "",
        "start_time_0": "",
        "start_time_1": "",
        "args": "[]",
        "kwargs": "{}",
        "expires_0": "",
        "expires_1": "",
        "expire_seconds": "",
        "queue": "",
        "exchange": "",
        "routing_key": "",
        "priority": "",
        "headers": "{}",
        **fields,
    }


@pytest.fixture
def scheduler(client):
    """An operator who may add and change periodic tasks, and nothing more."""
    client.force_login(staff_user(VIEW, ADD_PERM, CHANGE_PERM))
    return client


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        (
            {"task": REPORT_TASK, "args": '[1, "2025-09", "x1"]'},
            "task",
            "is not a task that may be scheduled",
        ),
        ({"regtask": REPORT_TASK, "task": ""}, "regtask", "is not a task that may be scheduled"),
        ({"task": "celery.chord_unlock"}, "task", "is not a task that may be scheduled"),
        ({"args": '["2025-13"]'}, "args", "period '2025-13' has no month 13"),
        ({"args": '["x1"]'}, "args", "period must be a month written YYYY-MM, got 'x1'"),
        ({"args": '["2999-01"]'}, "args", "is in the future"),
        ({"args": '["2025-09", 1]'}, "args", "too many positional arguments"),
        ({"args": '"2025-09"'}, "args", "must be a JSON list"),
        ({"kwargs": '{"user_id": 1}'}, "kwargs", "got an unexpected keyword argument 'user_id'"),
        ({"kwargs": '{"period": 202509}'}, "kwargs", "period must be a month written YYYY-MM"),
        ({"task": RECONCILERS[0], "args": "[1]"}, "args", "too many positional arguments"),
        ({"task": "celery.backend_cleanup", "kwargs": '{"x": 1}'}, "kwargs", "unexpected keyword"),
        # Celery lays these headers over its own: the worker would run the report task.
        ({"headers": f'{{"task": "{REPORT_TASK}"}}'}, "headers", "leave this {}"),
        ({"queue": "email"}, "queue", "the task's queue comes from its route"),
        ({"routing_key": "email"}, "routing_key", "the task's queue comes from its route"),
    ],
)
def test_anyone_but_a_superuser_schedules_only_allowed_tasks_and_arguments(
    scheduler, every_minute, fields, field, error
):
    response = scheduler.post(ADD, entry_form(every_minute, **fields))

    assert response.status_code == 200  # the form again, with the error
    form = response.context["adminform"].form
    assert any(error in message for message in form.errors[field]), form.errors
    assert not PeriodicTask.objects.filter(name="scheduled by a test").exists()


def test_an_allowed_entry_is_saved_and_logged_and_the_list_offers_only_allowed_tasks(
    scheduler, every_minute
):
    offered = scheduler.get(ADD).context["adminform"].form.fields["regtask"].widget.choices
    assert [name for name, _ in offered] == ["", *sorted(SCHEDULABLE_TASKS)]

    response = scheduler.post(
        ADD, entry_form(every_minute, regtask=MONTHLY, task="", kwargs='{"period": "2025-09"}')
    )

    assert response.status_code == 302
    entry = PeriodicTask.objects.get(name="scheduled by a test")
    assert (entry.task, entry.kwargs) == (MONTHLY, '{"period": "2025-09"}')
    assert LogEntry.objects.get(object_id=str(entry.pk)).action_flag == ADDITION


def test_changing_an_entry_to_another_task_is_refused_and_leaves_it_as_it_was(
    scheduler, entries, every_minute
):
    monthly = entries[0]
    url = reverse("admin:django_celery_beat_periodictask_change", args=[monthly.pk])

    response = scheduler.post(
        url, entry_form(every_minute, name=monthly.name, task=REPORT_TASK, args="[1]")
    )

    assert response.status_code == 200
    assert "task" in response.context["adminform"].form.errors
    monthly.refresh_from_db()
    assert (monthly.task, monthly.args) == (MONTHLY, "[]")


def test_a_superuser_may_schedule_any_task(admin_client, every_minute):
    response = admin_client.post(
        ADD, entry_form(every_minute, task=REPORT_TASK, args='[1, "2025-09", "x1"]')
    )

    assert response.status_code == 302
    assert PeriodicTask.objects.get(name="scheduled by a test").task == REPORT_TASK


# THE ENTRIES THE PROJECT SEEDS
# ------------------------------------------------------------------------------


def test_every_seeded_entry_passes_the_allow_list(celery_app):
    """`make run`'s entries: the migrations' and the result clean-up beat adds itself."""
    PeriodicTask.objects.all().delete()
    importlib.import_module(
        "apps.commission.migrations.0003_monthly_report_schedule"
    ).create_schedule(apps, None)
    importlib.import_module("apps.commission.migrations.0005_reconcile_schedule").create_entries(
        apps, None
    )

    class Capture:
        app = celery_app

        def update_from_dict(self, mapping):
            self.mapping = mapping

    beat = Capture()
    DatabaseScheduler.install_default_entries(beat, {})
    for name, fields in beat.mapping.items():
        DatabaseScheduler.Entry.from_entry(name, app=celery_app, **fields)

    seeded = PeriodicTask.objects.order_by("task")
    assert {entry.task for entry in seeded} == set(SCHEDULABLE_TASKS)
    for entry in seeded:
        check_entry(entry)  # raises ValidationError if not


def test_a_stored_entry_off_the_allow_list_is_refused(foreign_entry):
    with pytest.raises(ValidationError, match="is not a task that may be scheduled"):
        check_entry(foreign_entry)
