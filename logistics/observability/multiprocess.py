"""Metrics across the workers of ``logistics serve --workers N``: prometheus-client's
multiprocess mode.

Each worker is its own process with its own metrics, and a scrape reaches whichever worker
accepts it. In multiprocess mode every worker writes its values to files in one directory
(``PROMETHEUS_MULTIPROC_DIR``) and ``/metrics`` sums them, so any worker answers for all. The
variable must be set before prometheus-client is first imported in a worker, so ``serve`` sets
it before uvicorn starts them (and this module imports nothing of prometheus-client at its
top). The directory must start empty: values left by an earlier run would be counted again.

One process keeps its metrics in memory instead: cheaper per update, and it also exports the
process and garbage-collector metrics that multiprocess mode cannot.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from logistics.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Files of the gauges whose value is only meaningful while their process lives.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def multiprocess_dir() -> str | None:
    """The directory of multiprocess mode, when this process runs in it."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())


@contextmanager
def multiprocess_metrics(settings: Settings, workers: int) -> Iterator[Path | None]:
    """Multiprocess mode for the workers about to start, when there are several of them or
    ``LOGISTICS_METRICS_DIR`` asks for it: that directory emptied of old values, or a temporary
    one removed afterwards. A ``PROMETHEUS_MULTIPROC_DIR`` set by the deployment is its own."""
    if multiprocess_dir() is not None or (workers <= 1 and settings.metrics_dir is None):
        yield None
        return
    temporary = settings.metrics_dir is None
    if temporary:
        path = Path(tempfile.mkdtemp(prefix="logistics-metrics-"))
    else:
        assert settings.metrics_dir is not None
        path = settings.metrics_dir.resolve()
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    try:
        yield path
    finally:
        del os.environ[MULTIPROC_ENV]
        if temporary:
            shutil.rmtree(path, ignore_errors=True)


def forget_dead_processes(path: str) -> list[int]:
    """Drop the live gauges (connections, subscriptions, pool use) of workers that are gone:
    uvicorn replaces a worker that dies without telling anyone, and its last values would
    otherwise be summed forever. Counters and histograms of dead workers stay, as they must."""
    from prometheus_client.multiprocess import mark_process_dead

    pids = {int(match[1]) for name in os.listdir(path) if (match := _LIVE_GAUGE_FILE.fullmatch(name))}
    dead = sorted(pid for pid in pids if not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, path)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
