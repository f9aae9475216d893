"""factory-boy factories for the domain; services write the data the way production does."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from apps.commission.models import Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    manager = factory.SubFactory(UserFactory)
    commission_rate = Decimal("10.00")


def add_rep(team, joined_on=dt.date(2020, 1, 1), rate_override=None, **user_fields):
    """A new rep in the team from `joined_on`."""
    from apps.commission.services import join_team

    rep = UserFactory(**user_fields)
    join_team(rep, team, joined_on, rate_override)
    return rep
