"""A warning when an email worker starts in a pool that waits on the provider one send
per process: `celery -A core worker -Q email` run by hand gets Celery's prefork pool,
about 5 emails a second per process at 200 ms a call. ops/start/worker starts it right.
"""

import logging

from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import celeryd_after_setup

from core.celery import EMAIL_QUEUE

logger = logging.getLogger(__name__)


def warn_of_a_slow_email_pool(sender=None, instance=None, **_) -> None:
    queues = set(instance.app.amqp.queues.consume_from or ())
    pool = instance.pool_cls
    if EMAIL_QUEUE in queues and isinstance(pool, type) and issubclass(pool, PreforkPool):
        logger.warning(
            "%s consumes the email queue with the prefork pool (%s processes): each process "
            "waits for the provider's answer before the next send. Start it as "
            "ops/start/worker email does: celery -A core worker -Q email --pool threads "
            "--concurrency 16",
            sender,
            instance.concurrency,
        )


celeryd_after_setup.connect(warn_of_a_slow_email_pool, dispatch_uid="core.worker_pool_check")
