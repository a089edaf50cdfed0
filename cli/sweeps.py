"""Flask commands for time and mail: run the scheduler alone, one timer sweep, one delivery sweep, one weak-signal sweep."""
from __future__ import annotations

import signal

import click
from flask import current_app
from flask.cli import with_appcontext

import scheduler as scheduler_mod
from knowledge import signals
from mail import mailer
from referentiel import plural
from timekeeping.clock import app_now
from workflow import timers


def init_app(app):
    """Register the commands on the application."""
    for command in (run_scheduler, fire_timers, send_mail, weak_signals):
        app.cli.add_command(command)


@click.command("scheduler")
@with_appcontext
def run_scheduler():
    """Run the scheduler alone, in the foreground (deployments with a separate scheduler process)."""
    app = current_app._get_current_object()
    click.echo("Planificateur démarré (Ctrl+C pour arrêter).")
    max_sleep = float(app.config.get("SCHEDULER_MAX_SLEEP") or scheduler_mod.MAX_SLEEP)
    scheduler = scheduler_mod.Scheduler(app, blocking=True, max_sleep=max_sleep)
    signal.signal(signal.SIGTERM, _stop)  # a process manager stops us with SIGTERM: leave like Ctrl+C
    try:
        scheduler.start()  # blocks until interrupted
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        scheduler.shutdown(wait=False)
        click.echo("Planificateur arrêté.")


def _stop(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # once: a second SIGTERM during shutdown just ends us
    raise SystemExit(0)


@click.command("fire-timers")
@with_appcontext
def fire_timers():
    """Fire every due timer once (one sweep) and queue reminders of overdue tasks."""
    result = timers.sweep_timers()
    reminders = timers.sweep_reminders()
    click.echo(f"Minuteurs déclenchés : {result.fired}, en échec : {result.failed}, ignorés : {result.skipped} ; "
               f"rappels d'échéance : {reminders}.")


@click.command("send-mail")
@with_appcontext
def send_mail():
    """Deliver the due messages of the outbox once (one sweep)."""
    result = mailer.deliver_due()
    click.echo(f"Messages envoyés : {result.sent}, à réessayer : {result.retried}, abandonnés : {result.dead}, "
               f"à vérifier : {result.to_verify}.")


@click.command("weak-signals")
@with_appcontext
def weak_signals():
    """Look for bursts of similar declarations once (one sweep); new alerts are queued to the cell and the HFDS."""
    raised = signals.sweep(app_now())
    click.echo(f"Signaux faibles : {plural(raised, 'nouvelle alerte')}.")
