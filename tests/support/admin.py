"""Admin users with exactly the permissions a test names, what the admin offers them, and
its forms as a browser posts them."""


def staff_user(*permissions: str):
    """A staff user with exactly these permissions ("app_label.codename").

    Named after its permissions: the factory gets or creates by username, so two users
    with different permissions must not share one (the second would get both sets).
    """
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    codenames = sorted(permission.split(".")[1] for permission in permissions)
    user = UserFactory(username="staff-" + "-".join(codenames or ["none"]), is_staff=True)
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def offered_actions(client, url: str) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["action_form"]  # None when no action is offered
    # Without the blank "---------" choice.
    return {name for name, _ in form.fields["action"].choices if name} if form else set()


def user_form(user, **changes) -> dict:
    """The admin's user change form for `user`, as the browser posts it, with `changes`."""
    from django.utils import timezone

    joined = timezone.localtime(user.date_joined)
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "language": user.language,
        "is_active": "on",
        "date_joined_0": f"{joined:%Y-%m-%d}",
        "date_joined_1": f"{joined:%H:%M:%S}",
        "last_login_0": "",
        "last_login_1": "",
    }
    return {**data, **changes}
