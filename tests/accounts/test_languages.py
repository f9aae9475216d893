"""The language each user reads (apps.accounts.languages): the deployment's default for a
new user, and the default again for a language no longer offered."""

import pytest

from apps.accounts.languages import preferred_language
from tests.factories import UserFactory


@pytest.mark.django_db
def test_a_new_user_reads_the_deployments_default_language(settings):
    settings.LANGUAGE_CODE = "ru"

    assert UserFactory().language == "ru"


@pytest.mark.django_db
@pytest.mark.parametrize(("stored", "reads"), [("ru", "ru"), ("de", "en"), ("", "en")])
def test_an_unknown_language_falls_back_to_the_default(stored, reads):
    user = UserFactory()
    type(user).objects.filter(pk=user.pk).update(language=stored)  # past the form's choices
    user.refresh_from_db()

    assert preferred_language(user) == reads
