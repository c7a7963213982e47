"""`audience worker`: run backup jobs from the PostgreSQL job queue (SPEC §11; backup/workers.py)."""

from __future__ import annotations

import typer

from ..config import DEFAULT_RUN_SECONDS
from .common import state


def worker(
    ctx: typer.Context,
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, max=64, metavar="N", help="Back up N accounts at a time."),
    nightly_at: str = typer.Option(
        "03:00", "--nightly-at", metavar="HH:MM",
        help="When the nightly backup of every account is queued, in UTC (`off`: never; then use `backup --enqueue`).",
    ),
    nightly_cron: str | None = typer.Option(
        None, "--nightly-cron", metavar="CRON", help="A cron expression (UTC; a 6th field is seconds) instead of --nightly-at.",
    ),
    heartbeat: float = typer.Option(
        10.0, "--heartbeat", min=0.2, metavar="SECONDS",
        help="How often this worker says it is alive; one silent for 3 heartbeats is taken as dead and its job is retried.",
    ),
    max_minutes: float = typer.Option(
        DEFAULT_RUN_SECONDS / 60, "--max-minutes", metavar="N",
        help="Per job: stop starting new requests after N minutes; the partial snapshot resumes in the next job.",
    ),
) -> None:
    """Run backup jobs from the job queue (PostgreSQL only), with workers on any number of hosts.

    Every account is backed up once per cycle: the nightly task and `audience backup --enqueue`
    queue one job per account, never two for one account, one at a time per credential. A job
    whose worker dies is retried by another worker and resumes its partial snapshot. Stop with
    Ctrl-C or SIGTERM: the running jobs finish first.
    """
    from ..logs import file_logging
    from ..workers import check_cron, require_postgresql, run_worker
    from ..workers import nightly_cron as cron_at

    st = state(ctx)
    engine = st.engine()
    require_postgresql(engine, "audience worker")
    cron = check_cron(nightly_cron) if nightly_cron is not None else cron_at(nightly_at)
    file_logging()
    run_worker(
        engine, concurrency=concurrency, cron=cron, heartbeat=heartbeat, max_seconds=max_minutes * 60,
        quiet=st.quiet, verbose=st.verbose,
    )
