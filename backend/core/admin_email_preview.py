"""An email as it was sent, on its admin change page: the HTML in a sandboxed frame, the
text as it reads, and the attachments to download. Shared by the email deliveries' and
the stored reports' admins; each view only reads, and asks for the model's view
permission."""

from csp.constants import NONE, SELF, UNSAFE_INLINE
from csp.decorators import csp
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import content_disposition_header
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_safe

# The frame's own policy: the stored HTML loads nothing, runs nothing, and is shown only
# inside this site's admin. Styles inline only: the report keeps a <style> block for its
# media queries and style attributes from the inliner.
PREVIEW_POLICY = {
    "default-src": [NONE],
    "style-src": [UNSAFE_INLINE],
    "img-src": ["data:"],
    "base-uri": [NONE],
    "form-action": [NONE],
    "frame-ancestors": [SELF],
    # No allow-* token: no script, form, popup or top navigation, and an origin of its own.
    "sandbox": True,
}
# Served as themselves; anything else downloads as bytes, whatever the row says.
DOWNLOAD_MIMETYPES = frozenset({"text/csv", "text/plain"})


class SentEmailAdmin(admin.ModelAdmin):
    """For a model with body_html, body_text and attachments ([{filename, content,
    mimetype}]): put SENT_EMAIL_FIELDS in readonly_fields and the raw fields in exclude."""

    SENT_EMAIL_FIELDS = ["html_preview", "text_body", "attachment_links"]
    SENT_EMAIL_RAW_FIELDS = ["body_html", "body_text", "attachments"]

    class Media:
        css = {"all": ["admin/sent_email.css"]}

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        preview = xframe_options_sameorigin(csp(PREVIEW_POLICY)(require_safe(self.preview_view)))
        own = [
            path(
                "<path:object_id>/preview/",
                self.admin_site.admin_view(preview),
                name=f"{name}_preview",
            ),
            path(
                "<path:object_id>/attachment/<int:index>/",
                self.admin_site.admin_view(require_safe(self.attachment_view)),
                name=f"{name}_attachment",
            ),
        ]
        # Before the admin's own: its "<path:object_id>/" catches everything below a row.
        return own + super().get_urls()

    def _url(self, view: str, *args) -> str:
        return reverse(
            f"admin:{self.opts.app_label}_{self.opts.model_name}_{view}",
            args=args,
            current_app=self.admin_site.name,
        )

    def _viewable(self, request, object_id):
        # The model's permission first: a 404 must not tell who may not look what exists.
        if not self.has_view_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return obj

    def preview_view(self, request, object_id):
        obj = self._viewable(request, object_id)
        if not obj.body_html:
            raise Http404("This email has no HTML part.")
        # Exactly the stored HTML: nothing added, nothing rewritten.
        return HttpResponse(obj.body_html.encode(), content_type="text/html; charset=utf-8")

    def attachment_view(self, request, object_id, index: int):
        obj = self._viewable(request, object_id)
        if index >= len(obj.attachments):
            raise Http404("No attachment with this number.")
        attachment = obj.attachments[index]
        mimetype = attachment.get("mimetype")
        if mimetype not in DOWNLOAD_MIMETYPES:
            mimetype = "application/octet-stream"
        response = HttpResponse(
            attachment["content"].encode(), content_type=f"{mimetype}; charset=utf-8"
        )
        response["Content-Disposition"] = content_disposition_header(
            as_attachment=True, filename=attachment["filename"]
        )
        return response

    # The change page's fields.

    @admin.display(description="HTML body")
    def html_preview(self, obj):
        if not obj.body_html:
            return "none: the email was text only"
        return format_html(
            '<iframe sandbox="" class="sent-email-html" title="The HTML body as stored" '
            'src="{}"></iframe>',
            self._url("preview", obj.pk),
        )

    @admin.display(description="text body")
    def text_body(self, obj):
        return format_html('<pre class="sent-email-text">{}</pre>', obj.body_text)

    @admin.display(description="attachments")
    def attachment_links(self, obj):
        if not obj.attachments:
            return "none stored"
        return format_html(
            '<ul class="sent-email-attachments">{}</ul>',
            format_html_join(
                "",
                '<li><a href="{}">{}</a> ({}, {})</li>',
                (
                    (
                        self._url("attachment", obj.pk, index),
                        item["filename"],
                        item.get("mimetype") or "no type",
                        filesizeformat(len(item["content"].encode())),
                    )
                    for index, item in enumerate(obj.attachments)
                ),
            ),
        )
