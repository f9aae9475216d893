from django.contrib import admin
from django.http import HttpResponse
from django.urls import path
from django.views.generic import RedirectView

from apps.commission import month_admin
from apps.mailing import webhooks
from core import health, metrics

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    # Browsers ask for it on every page; no icon is better than a 404 warning each time.
    path("favicon.ico", lambda request: HttpResponse(status=204)),
    # The operator's month pages: admin pages, before the admin's own catch-all.
    path("admin/months/", admin.site.admin_view(month_admin.month_index), name="admin_months"),
    path(
        "admin/months/<str:period>/",
        admin.site.admin_view(month_admin.month_page),
        name="admin_month",
    ),
    path("admin/", admin.site.urls),
    # Probes for compose and load balancers: liveness, and readiness (database, broker).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Owed work for Prometheus: counts and the oldest item's age, refused webhook posts
    # (no personal data); a bearer token (METRICS_TOKEN), and not served in production
    # without one.
    path("metrics", metrics.metrics, name="metrics"),
    # The provider's tracking webhook: /anymail/<esp>/tracking/, basic auth
    # (ANYMAIL_WEBHOOK_SECRET) checked before the body is read; only the configured
    # provider's, only with tracking on.
    path("anymail/<str:provider>/tracking/", webhooks.tracking_webhook, name="tracking_webhook"),
]
