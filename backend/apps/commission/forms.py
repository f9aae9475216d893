"""Admin forms that write commission data through the domain services."""

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import transaction

from .models import Deal
from .services import CommissionDataError, record_deal


class DealAddForm(forms.ModelForm):
    """A new deal, recorded with its commission by `record_deal`.

    No team field: the service finds the rep's team on the closing day. The service
    is the one source of the rules (currency, team, rate, one deal per reference):
    `clean` runs it on a savepoint that is rolled back, so what it refuses is a form
    error on the page, and the admin's `save_model` runs it again for real.
    """

    # No commission status: a new commission is pending, and only approving and paying
    # (apps.commission.payouts, each with its permission) move it on.
    currency = forms.ChoiceField()

    class Meta:
        model = Deal
        fields = ["rep", "amount", "currency", "closed_on", "external_ref"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Read at each form, not at import, so the deployment's setting always applies.
        currency = settings.COMMISSION_CURRENCY
        self.fields["currency"].choices = [(currency, currency)]
        self.fields["currency"].initial = currency
        self.fields["currency"].error_messages["invalid_choice"] = (
            f"This deployment records deals in {currency} only."
        )
        # Said at the field, where it belongs; otherwise the service's refusal and the
        # model's check constraint would both say it.
        self.fields["amount"].validators.append(MinValueValidator(0))

    def record_deal_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            name: data[name] for name in ("rep", "amount", "closed_on", "external_ref", "currency")
        }

    def clean(self):
        cleaned_data = super().clean()
        if self.errors:  # a field is missing or malformed; its own error says so
            return cleaned_data
        try:
            with transaction.atomic():
                record_deal(**self.record_deal_arguments())
                transaction.set_rollback(True)  # a trial run: the admin writes on save
        except CommissionDataError as error:
            if error.field in self.fields:  # beside the field at fault, e.g. a future date
                raise ValidationError({error.field: str(error)}) from error
            raise ValidationError(str(error)) from error
        return cleaned_data

    def validate_unique(self):
        # `record_deal` refuses a reference already recorded, in its own words, in
        # `clean`; the model's check would only say it a second time.
        pass
