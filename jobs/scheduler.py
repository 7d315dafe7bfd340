"""APScheduler set-up: the poll interval, the weekly digest (weekly SMEs), the daily digest (daily SMEs, every day at
the same time) and the retry of undelivered digests from config; clean stop on SIGTERM or Ctrl-C."""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from matcher.clock import utc_now
from matcher.config import Config
from matcher.store.leader import LeaderLock, leader_lock

log = logging.getLogger(__name__)


def build_scheduler(cfg: Config, engine: Engine, clock: Callable[[], datetime] = utc_now,
                    stop: threading.Event | None = None) -> BackgroundScheduler:
    """The jobs; `stop` (run_forever's SIGTERM) also stops a send under way: the messages in flight finish and the
    digests not tried stay for the next run, instead of the shutdown waiting for the whole send."""
    from jobs.pipeline import daily_job, weekly_job
    from jobs.poll import poll_job
    from matcher.deliver.week import retry_undelivered

    tz = cfg.digest.timezone
    scheduler = BackgroundScheduler(
        timezone=tz,
        job_defaults={
            # a run missed while the process was down still happens if it is at most this late...
            "misfire_grace_time": cfg.scheduler.misfire_grace_seconds,
            # ...and several missed runs collapse into one; never two copies of a job at once
            "coalesce": True,
            "max_instances": 1,
        },
    )
    scheduler.add_job(
        lambda: poll_job(cfg, engine, clock()),
        IntervalTrigger(minutes=cfg.scheduler.poll_every_minutes, timezone=tz),
        id="poll", name="poll every source", next_run_time=datetime.now(scheduler.timezone),
    )
    t = cfg.digest.time
    one_at_a_time = threading.Lock()  # on the weekly day both runs are due at once: one after the other

    def serial(job: Callable, *args: object) -> object:
        with one_at_a_time:
            return job(*args)

    scheduler.add_job(
        lambda: serial(weekly_job, cfg, engine, clock(), stop),
        CronTrigger(day_of_week=cfg.digest.weekday, hour=t.hour, minute=t.minute, second=t.second, timezone=tz),
        id="weekly-digest", name="match and send the weekly digests",
    )
    scheduler.add_job(
        lambda: serial(daily_job, cfg, engine, clock(), stop),
        CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=tz),
        id="daily-digest", name="match and send the daily digests (new notices only)",
    )
    # a digest that failed, or that a killed sender left 'sending' past its lease, is retried within its period
    scheduler.add_job(
        lambda: retry_undelivered(cfg, engine, clock(), stop),
        IntervalTrigger(minutes=cfg.scheduler.poll_every_minutes, timezone=tz),
        id="retry-delivery", name="send this week's and today's undelivered digests",
    )
    from jobs.digest import reminder_job

    scheduler.add_job(
        lambda: reminder_job(cfg, engine, clock()),
        CronTrigger(hour=t.hour, minute=t.minute, second=t.second, timezone=tz),
        id="reminders", name="send the deadline reminders due today",
    )
    return scheduler


def run_forever(cfg: Config, engine: Engine, stop: threading.Event | None = None) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT (or `stop` is set), then let running jobs finish.

    Only the holder of the store's leader lock runs the jobs: a second process waits and takes over when the
    first dies (matcher.store.leader)."""
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.warning("received %s: stopping after running jobs finish", signal.Signals(signum).name)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    lock, every = leader_lock(engine), cfg.scheduler.leader_check_seconds
    try:
        while not stop.is_set():
            if not lock.try_acquire():
                log.warning("another `matcher run` leads on this store: waiting to take over (pid %d)", os.getpid())
                while not stop.wait(every) and not lock.try_acquire():
                    pass
                if stop.is_set():
                    break
            log.warning("leader: this process (pid %d) polls and runs the weekly job", os.getpid())
            _lead(cfg, engine, lock, stop, every)
    finally:
        lock.release()
        log.warning("scheduler stopped")


def _lead(cfg: Config, engine: Engine, lock: LeaderLock, stop: threading.Event, every: float) -> None:
    """Run the jobs while the lock is ours; back to waiting if it is lost (the store connection dropped)."""
    scheduler = build_scheduler(cfg, engine, stop=stop)
    scheduler.start()
    for job in scheduler.get_jobs():
        log.warning("scheduled %s: next run %s", job.name, job.next_run_time)
    try:
        while not stop.wait(every):
            if not lock.held():
                log.error("leader: lost the leader lock; stopping the jobs and waiting to lead again")
                lock.release()
                return
    finally:
        scheduler.shutdown(wait=True)
