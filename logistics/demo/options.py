"""The simulator's knobs, and their command-line arguments (``logistics demo``)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class DemoOptions:
    url: str = "http://127.0.0.1:8000"
    drivers: int = 20
    customers: int = 10
    rate: float = 6.0  # orders per minute
    accept: float = 0.85
    speedup: float = 10.0
    speed_kmh: float = 30.0
    duration: float | None = None
    seed: int | None = None
    # Of the orders, the share paid by card when the server has the payments sandbox on.
    card_share: float = 0.6
    # How many of the first orders print their public tracking link.
    show_tracking: int = 3


# ``logistics serve --demo``: a city to watch rather than to load: a handful of drivers an
# eye can follow on the ops map, and an order about every ten seconds.
WATCHING = DemoOptions(drivers=8, customers=5, rate=6.0, speedup=10.0)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = DemoOptions()
    parser.add_argument("--url", default=d.url, help="the server to drive (default: %(default)s)")
    parser.add_argument(
        "--drivers", type=_positive_int, default=d.drivers, help="simulated drivers (default: %(default)s)"
    )
    parser.add_argument(
        "--customers",
        type=_positive_int,
        default=d.customers,
        help="simulated customers placing the orders (default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        default=d.rate,
        help="orders per minute, arriving at random (a Poisson process) (default: %(default)s)",
    )
    parser.add_argument(
        "--accept",
        type=_probability,
        default=d.accept,
        help="the chance a driver accepts an offer; otherwise it rejects it (default: %(default)s)",
    )
    parser.add_argument(
        "--speedup",
        type=_positive,
        default=d.speedup,
        help="how much faster than real time drivers move and wait (default: %(default)s)",
    )
    parser.add_argument(
        "--speed-kmh",
        type=_positive,
        default=d.speed_kmh,
        help="a driver's speed in the simulated city, before --speedup (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed the simulator's choices (places, orders, accept or reject) to repeat a run",
    )


def from_args(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        url=args.url.rstrip("/"),
        drivers=args.drivers,
        customers=args.customers,
        rate=args.rate,
        accept=args.accept,
        speedup=args.speedup,
        speed_kmh=args.speed_kmh,
        duration=args.duration,
        seed=args.seed,
    )
