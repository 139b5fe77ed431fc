"""Start a demo, run it until Ctrl-C, ``--duration`` or the server going away, and stop it
cleanly: tasks cancelled, drivers offline, open orders cancelled, a summary printed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import httpx

from logistics.config import Region, Settings
from logistics.demo.board import Console, Stats
from logistics.demo.city import TEST_CARD, City
from logistics.demo.client import Api, User
from logistics.demo.customers import Customers
from logistics.demo.fleet import Driver
from logistics.demo.options import DemoOptions
from logistics.demo.world import Area

# A server started a moment ago may still be migrating: wait this long for /healthz.
HEALTH_WAIT_S = 15.0
# Registrations at once: each is three requests with uploads; a burst of twenty would only
# queue in the server.
REGISTER_AT_ONCE = 4
# The clean-up's budget: drivers offline, open orders cancelled. A dead server must not hold
# the exit for long.
CLEANUP_S = 15.0


async def healthy(
    base_url: str,
    wait_s: float,
    server: subprocess.Popen[Any] | None = None,
    stop: asyncio.Event | None = None,
) -> bool:
    """Whether ``/healthz`` answers 200 within ``wait_s``; False at once if ``server`` exits
    or ``stop`` is set (Ctrl-C while waiting)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as http:
        while loop.time() < deadline:
            if (server is not None and server.poll() is not None) or (stop is not None and stop.is_set()):
                return False
            try:
                if (await http.get("/healthz")).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False


def region_of(settings: Settings, init: dict[str, Any]) -> Region:
    """The server's region: the local table's entry of that id, with the service area, country
    and currency the server gave (they decide what a quote accepts)."""
    given = init["region"]
    local = settings.region(given["id"])
    ring = [[(float(p[0]), float(p[1])) for p in r] for r in given["service_area"]["coordinates"]]
    update = {k: given[k] for k in ("id", "name", "country", "currency") if k in given}
    return local.model_copy(update={**update, "service_area": ring})


def intro(city: City) -> str:
    o, base = city.options, city.options.url
    payments = (
        f"cash, and cards through the payments sandbox (test card {TEST_CARD})"
        if city.cards
        else "cash only (card payments and tips need LOGISTICS_PAYMENTS_SANDBOX=true on the server)"
    )
    return "\n".join(
        [
            f"Demo run {city.run_id} against {base}" + (f" (seed {o.seed})" if o.seed is not None else ""),
            f"  start page   {base}/",
            f"  ops map      {base}/ops   (paste the ops token below into it)",
            f"  ops token    {city.ops.token}",
            f"  region       {city.region.name} ({city.region.currency}); payments: {payments}",
            f"  simulating   {o.drivers} drivers, {o.customers} customers, {o.rate:g} orders/min, "
            f"accept {o.accept:.0%}, {o.speed_kmh:g} km/h x{o.speedup:g}"
            + (f", for {o.duration:g} s" if o.duration else ""),
            "Ctrl-C stops it: drivers go offline and orders still searching are cancelled.",
        ]
    )


async def run_city(city: City, drivers: list[Driver], customers: Customers) -> None:
    """Register the fleet, then set it and the order arrivals going; returns only when no
    driver could be registered."""
    gate = asyncio.Semaphore(REGISTER_AT_ONCE)

    async def register(driver: Driver) -> bool:
        async with gate:
            return await driver.register()

    city.console.say(f"Registering {len(drivers)} drivers...")
    done = await asyncio.gather(*(register(d) for d in drivers))
    fleet = [d for d, ok in zip(drivers, done, strict=True) if ok]
    if not fleet:
        city.console.say("demo: no driver could be registered (see the errors above)")
        return
    city.console.say(f"{len(fleet)} drivers online; the first orders are on their way.")
    for driver in fleet:
        city.spawn(driver.run())
    city.spawn(customers.arrivals())
    while True:
        city.console.status(city.stats)
        await asyncio.sleep(0.5)


async def simulate(
    options: DemoOptions,
    settings: Settings,
    console: Console,
    stop: asyncio.Event,
    stats: Stats,
    *,
    server: subprocess.Popen[Any] | None = None,
) -> int:
    """The demo from start to clean stop, counting into ``stats``; the exit code."""
    api = Api(options.url, stats, console)
    try:
        wait_s = min(HEALTH_WAIT_S, options.duration or HEALTH_WAIT_S)
        if not await healthy(options.url, wait_s, server, stop):
            if stop.is_set():
                return 0
            console.say(f"demo: nothing answers at {options.url}/healthz")
            return 1
        run_id = secrets.token_hex(3)
        ops = User(f"demo-{run_id}-ops", "Demo Ops", "+49 30 5550100", roles=["ops"]).mint(settings)
        init = await api.call(ops, "GET", "/init")
        if not init.ok:
            console.say("demo: the server refused GET /init (is LOGISTICS_JWT_SECRET the server's?)")
            return 1
        region = region_of(settings, init.body)
        payment = init.body.get("payment") or {}
        cards = "stripe" in payment.get("methods", []) and bool(payment.get("sandbox"))
        stats.currency = region.currency
        city = City(options, settings, api, stats, console, run_id, region, Area(region), ops, cards)
        console.say(intro(city))
        stats.began = True
        customers = Customers(city)
        drivers = [Driver(city, i) for i in range(options.drivers)]
        return await _until_stopped(city, drivers, customers, stop, server)
    finally:
        await api.close()


async def _until_stopped(
    city: City,
    drivers: list[Driver],
    customers: Customers,
    stop: asyncio.Event,
    server: subprocess.Popen[Any] | None,
) -> int:
    main = asyncio.create_task(run_city(city, drivers, customers))
    stopped = asyncio.create_task(stop.wait())
    watch = {asyncio.create_task(_exited(server))} if server is not None else set()
    try:
        await asyncio.wait(
            {main, stopped, *watch}, timeout=city.options.duration, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        # run_city ends by itself only when no driver could be registered (or on a bug).
        gave_up = main.done()
        for task in (main, stopped, *watch, *list(city.tasks)):
            task.cancel()
        await asyncio.gather(main, stopped, *watch, *list(city.tasks), return_exceptions=True)
    if gave_up and not main.cancelled() and main.exception() is not None:
        city.console.error(f"simulator: {main.exception()!r}", city.stats)
    if server is not None and server.poll() is not None:
        city.console.say(f"demo: the server exited (code {server.returncode})")
        return server.returncode or 1
    city.api.quiet = True

    async def clean_up() -> None:
        # Offline first: no driver takes a job the next step is about to cancel.
        await asyncio.gather(*(d.go_offline() for d in drivers))
        await customers.cancel_open()

    try:
        await asyncio.wait_for(clean_up(), CLEANUP_S)
    except (TimeoutError, asyncio.CancelledError):
        city.console.say("demo: clean-up skipped")
    city.console.status(city.stats, force=True)
    return 1 if gave_up else 0


async def _exited(server: subprocess.Popen[Any] | None) -> None:
    # Polled: a thread blocked in wait() could not be cancelled with the demo.
    while server is not None and server.poll() is None:  # noqa: ASYNC110
        await asyncio.sleep(0.5)


async def main(
    options: DemoOptions,
    settings: Settings,
    console: Console,
    *,
    server: subprocess.Popen[Any] | None = None,
    before_summary: Callable[[], None] | None = None,
) -> int:
    """Run the demo with Ctrl-C (and SIGTERM) wired to a clean stop; a second Ctrl-C skips
    the clean-up. Prints the summary last (after ``before_summary``, which stops a server)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    this = asyncio.current_task()
    presses = 0
    stats = Stats()

    def interrupted() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            console.say("Stopping... (Ctrl-C again to skip the clean-up)")
            stop.set()
        elif this is not None:
            this.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on every platform or thread: there Ctrl-C is a KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, interrupted)
    try:
        code = await simulate(options, settings, console, stop, stats, server=server)
    except asyncio.CancelledError:
        code = 0  # a second Ctrl-C: stopped without the clean-up
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    console.close()
    if before_summary is not None:
        before_summary()
    if stats.began:
        console.say(stats.summary())
    return code


def run(options: DemoOptions, settings: Settings) -> int:
    """``logistics demo``."""
    return asyncio.run(main(options, settings, Console()))
