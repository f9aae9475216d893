"""Admin users with exactly the permissions a test names, and what the admin offers them."""


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
