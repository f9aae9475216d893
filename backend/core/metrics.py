"""GET /metrics: how much work the system still owes, and how old the oldest is; how
many tracking-webhook posts were refused; how full the Redis broker is, and how long
each queue is and how long its oldest message has waited.

Prometheus text format, computed at each scrape: a few indexed queries, and one
connection to the broker (`INFO memory`, then one pipeline over the queues); through
Sentinel, one `SENTINEL MASTER` before it, which also says which Redis is the master and
since when. The figure
to alert on is commission_owed_oldest_age_seconds: everything owed normally goes out
within minutes, so an old item means something nothing is repairing by itself; and the
broker's used memory against its maxmemory, beyond which Redis refuses new tasks. The
alert rules: ops/monitoring/alerts.yml.

Who may scrape: with METRICS_TOKEN set, only `Authorization: Bearer <token>` (401
otherwise); without it, anyone in development and nobody in production (404: not
configured, not served).
"""

import logging
import time

import redis
from django.conf import settings
from django.db.models import Min, QuerySet
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu.transport.redis import PRIORITY_STEPS, Channel
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

from apps.commission.month import OUTCOMES, deliveries_by_outcome
from apps.commission.periods import current_period, default_period
from apps.commission.selectors import owed_report_requests, stalled_report_requests
from apps.mailing.models import EmailDelivery
from apps.mailing.selectors import open_marks, owed_deliveries, stalled_deliveries
from core import queue_age, redis_connection
from core.celery import app
from core.health import CHECK_TIMEOUT
from core.http_auth import bearer_token_matches

logger = logging.getLogger(__name__)


class OwedWorkCollector:
    """Owed reports and emails, by kind: how many, how many stalled, the oldest's age."""

    def collect(self):
        now = timezone.now()
        owed = GaugeMetricFamily(
            "commission_owed_items", "Reports and emails still owed.", labels=["kind"]
        )
        stalled = GaugeMetricFamily(
            "commission_owed_stalled_items",
            "Owed items overdue beyond RECONCILE_STALLED_AFTER, stuck, or waiting for an operator.",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "commission_owed_oldest_age_seconds",
            "Age of the oldest owed item (0 when nothing is owed).",
            labels=["kind"],
        )
        kinds: dict[str, tuple[QuerySet, QuerySet]] = {
            "report_request": (owed_report_requests(), stalled_report_requests(now)),
            "email_delivery": (owed_deliveries(), stalled_deliveries(now)),
        }
        for kind, (owed_items, stalled_items) in kinds.items():
            summary = owed_items.aggregate(oldest=Min("created_at"))
            owed.add_metric([kind], owed_items.count())
            stalled.add_metric([kind], stalled_items.count())
            age = (now - summary["oldest"]).total_seconds() if summary["oldest"] else 0
            oldest.add_metric([kind], age)
        unconfirmed = GaugeMetricFamily(
            "commission_unconfirmed_deliveries",
            "Emails whose last send may have reached the provider, waiting for its event.",
        )
        unconfirmed.add_metric(
            [], EmailDelivery.objects.filter(status=EmailDelivery.Status.UNCONFIRMED).count()
        )
        yield from (owed, stalled, oldest, unconfirmed)


class MonthCollector:
    """Last month's and this month's report emails by outcome (as the admin's month page
    counts them: each manager once, copies apart), and the addresses marked undeliverable
    (their emails are held until someone acts)."""

    def collect(self):
        periods = [str(default_period()), str(current_period())]
        counts = deliveries_by_outcome(periods)
        deliveries = GaugeMetricFamily(
            "commission_month_deliveries",
            "Report emails of the month by outcome: managers (copy=original), copies asked "
            "for again (copy=resend).",
            labels=["period", "outcome", "copy"],
        )
        for period in periods:
            for outcome in OUTCOMES:
                managers, copies = counts.get((period, outcome), (0, 0))
                deliveries.add_metric([period, outcome, "original"], managers)
                deliveries.add_metric([period, outcome, "resend"], copies)
        undeliverable = GaugeMetricFamily(
            "commission_undeliverable_addresses",
            "Addresses marked undeliverable (hard bounce, spam complaint, provider refusal).",
        )
        undeliverable.add_metric([], open_marks().count())
        yield from (deliveries, undeliverable)


def queue_lists(queue: str, options: dict) -> list[str]:
    """The Redis lists kombu's transport keeps a queue's waiting messages in: the queue's
    name, and one more per priority step for messages sent with a priority (kombu's own
    naming and steps, or those of the transport `options`)."""
    prefix = options.get("global_keyprefix", "")
    steps = options.get("priority_steps", PRIORITY_STEPS)
    return [prefix + (f"{queue}{Channel.sep}{step}" if step else queue) for step in steps]


class BrokerCollector:
    """The Redis broker's memory and its limit, and each queue's length and the age of
    its oldest message: one connection and two round trips per scrape.

    Redis with maxmemory-policy noeviction (production) refuses new tasks once it is
    full: the work stays owed and is queued again later, but nothing new goes out until
    then. A queue whose oldest message keeps ageing has no worker taking from it."""

    def collect(self):
        url = app.conf.broker_url
        if not redis_connection.is_redis(url):
            return  # another broker: nothing to say
        up = GaugeMetricFamily(
            "commission_broker_up", "1 when the Redis broker answered this scrape, 0 otherwise."
        )
        options = app.conf.broker_transport_options or {}
        lists = {queue.name: queue_lists(queue.name, options) for queue in app.conf.task_queues}
        master = None
        try:
            if redis_connection.is_sentinel(url):
                # One Sentinel round trip says where the master is and since when; the
                # figures then come from that Redis directly.
                master = redis_connection.master_state(url, options, timeout=CHECK_TIMEOUT)
                client = redis_connection.client_at(
                    url, options, master.host, master.port, timeout=CHECK_TIMEOUT
                )
            else:
                client = redis_connection.client_for(url, options, timeout=CHECK_TIMEOUT)
        except redis.RedisError as exc:
            logger.warning("Broker not read: %s: %s", type(exc).__name__, exc)
            up.add_metric([], 0)
            yield up
            return
        try:
            memory = client.info("memory")
            with client.pipeline(transaction=False) as pipe:
                for name in (name for names in lists.values() for name in names):
                    # kombu pushes on the left and takes from the right: the oldest is last.
                    pipe.llen(name).lindex(name, -1)
                replies = iter(pipe.execute())
        except redis.RedisError as exc:
            # The scrape still answers, with the rest of the figures; the log says why.
            logger.warning("Broker not read: %s: %s", type(exc).__name__, exc)
            up.add_metric([], 0)
            yield up
            yield from master_metrics(master)
            return
        finally:
            client.close()
        now = time.time()
        up.add_metric([], 1)
        used = GaugeMetricFamily(
            "commission_broker_memory_used_bytes", "Memory the Redis broker uses (used_memory)."
        )
        used.add_metric([], memory["used_memory"])
        limit = GaugeMetricFamily(
            "commission_broker_memory_max_bytes",
            "The Redis broker's maxmemory (REDIS_MAXMEMORY); 0: no limit.",
        )
        limit.add_metric([], memory["maxmemory"])
        length = GaugeMetricFamily(
            "commission_queue_length", "Task messages waiting in the queue.", labels=["queue"]
        )
        age = GaugeMetricFamily(
            "commission_queue_oldest_age_seconds",
            "Seconds since the queue's oldest waiting message was published (0 when empty).",
            labels=["queue"],
        )
        for queue, names in lists.items():
            waiting, stamps = 0, []
            for _ in names:
                waiting += next(replies)
                # A message from a release before the header tells no time: skipped, so
                # a queue holding only such messages shows 0 until they have drained.
                stamp = queue_age.published_at(next(replies))
                if stamp is not None:
                    stamps.append(stamp)
            length.add_metric([queue], waiting)
            # Never below 0: the publisher's clock may run a little ahead of this one.
            age.add_metric([queue], max(now - min(stamps), 0) if stamps else 0)
        yield from (up, used, limit, length, age)
        yield from master_metrics(master)


def master_metrics(master: redis_connection.MasterState | None):
    """Through Sentinel: which Redis is the master, since when, and Sentinel's config
    epoch (one more at every failover). Nothing without Sentinel."""
    if master is None:
        return
    info = GaugeMetricFamily(
        "commission_broker_master_info",
        "The Redis the Sentinels name as the broker's master (always 1).",
        labels=["address"],
    )
    info.add_metric([master.address], 1)
    changed = GaugeMetricFamily(
        "commission_broker_master_changed_timestamp_seconds",
        "When the master took its role, as the Sentinel asked saw it (role-reported-time; "
        "a Sentinel restarted since counts from its own start).",
    )
    changed.add_metric([], time.time() - master.role_reported_ms / 1000)
    epoch = GaugeMetricFamily(
        "commission_broker_master_config_epoch",
        "Sentinel's configuration epoch for the master set: it grows by one at each failover.",
    )
    epoch.add_metric([], master.config_epoch)
    yield from (info, changed, epoch)


registry = CollectorRegistry(auto_describe=False)
registry.register(OwedWorkCollector())
registry.register(MonthCollector())
registry.register(BrokerCollector())

# Counted in the process that refused the post (prometheus_client without its
# multiprocess mode): gunicorn runs several, a scrape reads whichever answers, so the
# series can step down between scrapes (a "reset" to Prometheus). It tells that posts
# are being refused and roughly how fast, not an exact total.
WEBHOOK_REFUSAL_REASONS = ("credentials", "too_large", "malformed")
webhook_refused = Counter(
    "commission_webhook_refused",
    "Tracking-webhook posts refused, by reason (in this web process).",
    labelnames=["reason"],
    registry=registry,
)
for reason in WEBHOOK_REFUSAL_REASONS:
    webhook_refused.labels(reason)  # every series exists from the start, at 0


@never_cache
@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        if settings.IS_PRODUCTION:
            raise Http404("METRICS_TOKEN is not set: /metrics is not served in production")
    elif not bearer_token_matches(request, token):
        response = HttpResponse("a bearer token is required", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
