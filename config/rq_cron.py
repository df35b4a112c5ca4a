"""The worker's schedule, for RQ's built-in cron scheduler. Run one scheduler next to the workers (production mode):

    .venv/bin/rq cron config.rq_cron --url "$REDIS_URL"

It only enqueues; `manage.py rqworker` runs the jobs. Times are UTC. In embedded mode (no Redis) nothing is scheduled.
"""

import os

import django

# `rq cron` imports this module outside Django: set Django up before importing anything that touches models.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django.setup()

from rq.cron import register  # noqa: E402

from audiences.tasks import record_daily_counts, refresh_time_relative_audiences  # noqa: E402
from core.jobs import queue_name  # noqa: E402
from imports.tasks import recover_stale_jobs  # noqa: E402

SEGMENTS = queue_name("segments")

# Rules with engagement windows or relative dates ("opened in the last 30 days") drift with the clock.
register(refresh_time_relative_audiences, SEGMENTS, cron="0 * * * *", job_timeout=3300)
# The growth chart's daily counts, late in the day (UTC) so that each day's point is that day's closing count.
register(record_daily_counts, SEGMENTS, cron="50 23 * * *", job_timeout=3600)
# Import jobs whose worker died mid-way resume from their last batch (or fail visibly after 3 attempts).
register(recover_stale_jobs, queue_name("imports"), cron="*/5 * * * *", job_timeout=600)
