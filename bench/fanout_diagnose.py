"""``--diagnose``: the server's garbage collections and live objects, and a py-spy profile."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
from collections import Counter
from pathlib import Path

# With --diagnose the server runs under this bootstrap (then uvicorn's own ``main``, same
# arguments): it times every garbage collection, and on SIGUSR1 counts live objects by type.
DIAGNOSTIC_BOOTSTRAP = r"""
import atexit, collections, gc, json, signal, sys, time
out = sys.argv.pop(1)
pauses, snapshots, started = [], [], [0.0]
def on_gc(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        pauses.append((time.time(), info["generation"], time.perf_counter() - started[0], info["collected"]))
gc.callbacks.append(on_gc)
def snapshot(signum, frame):
    objects = gc.get_objects()
    kinds = collections.Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    snapshots.append({"t": time.time(), "objects": len(objects), "kinds": kinds.most_common(400)})
    del objects
signal.signal(signal.SIGUSR1, snapshot)
def dump():
    with open(out, "w") as f:
        json.dump({"pauses": pauses, "snapshots": snapshots}, f)
atexit.register(dump)
# uvicorn re-raises SIGTERM after its graceful shutdown: exit normally, so that atexit runs.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
sys.argv[0] = "uvicorn"
from uvicorn.main import main
main()
"""


async def start_profiler(args: argparse.Namespace, pid: int, label: str) -> asyncio.subprocess.Process | None:
    """py-spy sampling the server over the measured window, if asked for and installed."""
    if args.diagnose is None:
        return None
    binary = shutil.which("py-spy")
    if binary is None:
        print("  (py-spy not installed: no profile; pip install py-spy)")
        return None
    out = args.diagnose / f"pyspy-{label}.txt"
    return await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def report_diagnostics(path: Path, label: str, subscribers: int, window: tuple[float, float]) -> None:
    """Summarise what the bootstrap wrote: GC pauses within ``window`` (``time.time()`` bounds of
    the measured points) and which objects the subscriptions and the points added."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"  diagnostics unavailable: {exc}")
        return
    start, end = window
    seconds = end - start
    print(f"  [{label}] garbage collections in the {seconds:.1f} s measured window:")
    for generation in (0, 1, 2):
        pauses = sorted(p[2] * 1000 for p in data["pauses"] if start <= p[0] <= end and p[1] == generation)
        if pauses:
            print(
                f"    gen{generation}: {len(pauses)} runs, {sum(pauses):.0f} ms in all "
                f"({sum(pauses) / 10 / seconds:.1f}% of the window), longest {pauses[-1]:.1f} ms"
            )
    snapshots = data["snapshots"]
    if len(snapshots) >= 2:
        names = ["idle", "subscribed", "after the run"]
        counts = ", ".join(f"{names[i] if i < 3 else i}: {s['objects']:,}" for i, s in enumerate(snapshots))
        print(f"    GC-tracked objects: {counts}")
        idle, live = Counter(dict(snapshots[0]["kinds"])), Counter(dict(snapshots[1]["kinds"]))
        growth = (live - idle).most_common(12)
        print(f"    most added per subscriber (idle -> subscribed, /{subscribers}):")
        for kind, count in growth:
            print(f"      {count / subscribers:8.1f}  {kind}")
        if len(snapshots) >= 3:
            after = Counter(dict(snapshots[2]["kinds"]))
            print("    most added during the measured points (subscribed -> after the run):")
            for kind, count in (after - live).most_common(8):
                print(f"      {count:8d}  {kind}")
