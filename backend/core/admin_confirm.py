"""An admin action that asks before it acts: the confirmation page, and the check."""

from django.contrib.admin import helpers
from django.template.response import TemplateResponse


def confirmed(request, field: str) -> bool:
    """Whether the action's POST comes from its confirmation page."""
    return request.POST.get(field) == "yes"


def confirmation_page(
    model_admin,
    request,
    *,
    action: str,
    field: str,
    selected,
    title: str,
    intro: str,
    items: list[str],
    note: str,
    confirm_label: str,
) -> TemplateResponse:
    """The page that lists what the action would do and posts it back, confirmed."""
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.model._meta,
            "title": title,
            "intro": intro,
            "items": items,
            "note": note,
            "selected": list(selected),
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "confirm_field": field,
            "confirm_label": confirm_label,
        },
    )
