"""Background work: enqueue a function for an RQ worker once the current transaction commits, or run it in-process
in embedded mode (no REDIS_URL), so that `make run` needs no Redis and no worker."""

import logging
from collections.abc import Callable
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def queue_name(name: str) -> str:
    return f"{settings.RQ_QUEUE_PREFIX}{name}"


def get_queue(name: str) -> "django_rq.queues.DjangoRQ":
    return django_rq.get_queue(queue_name(name))


def enqueue_on_commit(queue: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    def send() -> None:
        if not settings.REDIS_URL:
            # Embedded mode: the job runs after the request's commit; a failure is logged (the job's own state shows
            # it, e.g. an audience left pending) rather than turned into the request's error.
            try:
                func(*args, **kwargs)
            except Exception:
                logger.exception("In-process job %s failed", getattr(func, "__name__", func))
            return
        get_queue(queue).enqueue(func, *args, **kwargs)

    transaction.on_commit(send)
