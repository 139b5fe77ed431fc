"""Batched dispatch benchmark: one min-cost matching per window against today's greedy dispatch
and against the hindsight optimum, in a simulated Berlin. Pure: no database, no server.

Run from the repository root with the venv active::

    python bench/dispatch_batch.py                     # the four scenarios
    python bench/dispatch_batch.py --only 2 --steady-drivers 500
    python bench/dispatch_batch.py --only 4 --solve-runs 50

Drivers and pickups lie at uniformly random points of the Berlin service area (as in
``dispatch.py``); the fleet's vehicles follow ``dispatch_fleet.VEHICLE_MIX``, the orders'
``dispatch_batch_sim.JOB_MIX``. Every vehicle drives at one speed (25 km/h on road distances,
the straight line times the region's circuity); a trip is the drive to the pickup, two minutes
of handling and the drive to a dropoff 1-5 km away, where the driver becomes free again.
Simulated time: nothing sleeps, the loop jumps from one arrival, end of trip or end of window
to the next. Offers are accepted at once. The radius is dispatch's (10 km).

Policies, on the same orders and the same starting fleet:

- greedy: today's dispatch. At every arrival and every driver freed, the oldest waiting order
  first gets its nearest free driver that fits (``matching.greedy``); offers leave at once.
- batched W s: at the end of every window of W seconds, ``matching.solve`` over the orders
  waiting and the drivers free; offers leave when the solve returns (its wall time counts).
- hindsight optimum (bursts): every order of the burst given a driver of the fleet at once,
  knowing all of them, at the least total pickup (``linear_sum_assignment``).

Scenarios: 1. 300 drivers, 200 orders arriving uniformly in the first 2 s (one window).
2. Steady state: ``--steady-drivers`` (1,000), a fleet already at work, orders arriving as a
Poisson process at ``--steady-loads`` (90% and 95%) of what the fleet can serve; the first
``--warmup-min`` (40) minutes are not measured, then ``--steady-min`` (10) are. 3. 1,000
drivers, 800 orders arriving uniformly at 32/s, windows of 2, 5 and 10 s. 4. ``matching.solve``
timed on random instances of 1,000 x 800 and 5,000 x 4,000.

The parts: ``dispatch_batch_sim`` (the city), ``dispatch_batch_report`` (the tables).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

if not __package__:
    # Run as ``python bench/dispatch_batch.py``: the modules beside this one are parts of the
    # ``bench`` package, so its parent must be importable too.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dispatch_batch_report import (
    Capacity,
    SolveTiming,
    SteadyCase,
    report_goals,
    report_large_burst,
    report_small_burst,
    report_solve,
    report_steady,
)
from bench.dispatch_batch_sim import (
    SPEED_MPS,
    City,
    Run,
    hindsight,
    make_fleet,
    make_orders,
    trip_s,
)
from bench.dispatch_fleet import PointSampler, berlin
from logistics.config import Region
from logistics.dispatch import matching


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="1,2,3,4", help="scenarios to run, comma separated")
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--radius-m", type=float, default=10_000)
    parser.add_argument(
        "--waiting-weight", type=float, default=matching.DEFAULT_WAITING_WEIGHT, help="m per s"
    )
    parser.add_argument("--trials", type=int, default=3, help="bursts: independent cities per scenario")
    parser.add_argument("--steady-drivers", type=int, default=1000)
    parser.add_argument("--steady-loads", default="0.90,0.95", help="shares of what the fleet can serve")
    parser.add_argument("--steady-min", type=float, default=10)
    parser.add_argument("--warmup-min", type=float, default=40)
    parser.add_argument("--solve-runs", type=int, default=30, help="timed solves at 1,000 x 800")
    parser.add_argument("--solve-runs-large", type=int, default=10, help="timed solves at 5,000 x 4,000")
    args = parser.parse_args()
    args.only = {int(s) for s in args.only.split(",") if s}
    args.steady_loads = [float(s) for s in args.steady_loads.split(",") if s]
    return args


def merge(runs: list[Run]) -> Run:
    """One policy's trials as one run: their orders pooled."""
    merged = Run(runs[0].policy, sum(r.orders for r in runs))
    for r in runs:
        merged.pickups_m += r.pickups_m
        merged.waits_s += r.waits_s
        merged.unserved_waits_s += r.unserved_waits_s
        merged.solve_ms += r.solve_ms
        merged.starved_max_s = max(merged.starved_max_s, r.starved_max_s)
    return merged


def burst(
    region: Region, args: argparse.Namespace, drivers: int, orders: int, rate: float, windows: list[float]
) -> list[Run]:
    """Greedy, batched at each window and the optimum, each over the same ``--trials`` cities.
    Runs last until every order is served: one left without a driver at first gets one
    freed by a trip, late, and its pickup and wait count."""
    per_policy: dict[str, list[Run]] = {}
    for trial in range(args.trials):
        rng = random.Random(args.seed + 1000 * trial + drivers)
        sample = PointSampler(region, rng)
        fleet = make_fleet(sample, rng, drivers)
        burst_s = orders / rate
        arrivals = make_orders(sample, rng, [rng.uniform(0, burst_s) for _ in range(orders)])
        for window in [None, *windows]:
            city = City(
                region,
                arrivals,
                fleet,
                radius_m=args.radius_m,
                waiting_weight=args.waiting_weight,
                window_s=window,
                until_s=burst_s + 3600,
            )
            run = city.simulate()
            per_policy.setdefault(run.policy, []).append(run)
        optimum = hindsight(arrivals, fleet, args.radius_m)
        per_policy.setdefault(optimum.policy, []).append(optimum)
    return [merge(runs) for runs in per_policy.values()]


def nominal_pickup_m(region: Region, rng: random.Random, drivers: int, busy: float, radius_m: float) -> float:
    """The pickup an order gets when no other order competes for the drivers: the mean
    distance from a random pickup to the nearest driver that fits among the free ones, the
    ``1 - busy`` share of the fleet."""
    sample = PointSampler(region, rng)
    distances: list[float] = []
    for _ in range(10):
        free = [
            matching.FreeDriver(d.id, d.lat, d.lng, d.vehicle)
            for d in make_fleet(sample, rng, max(1, round((1 - busy) * drivers)))
        ]
        for order in make_orders(sample, rng, [0.0] * 100):
            job = matching.WaitingJob(order.id, order.lat, order.lng, order.vehicle, 0.0)
            distances += [m.distance_m for m in matching.greedy([job], free, radius_m=radius_m).matches]
    return statistics.fmean(distances)


def capacity(region: Region, args: argparse.Namespace) -> Capacity:
    """What the fleet can serve: the most orders a minute it completes when each takes the
    nearest free driver and no two compete. The busier the fleet, the fewer drivers are free
    and the longer each pickup, so the throughput (busy share x drivers / mean trip) rises,
    peaks and falls; its peak is the capacity, the same for every policy and every load."""
    rng = random.Random(args.seed)
    sample = PointSampler(region, rng)
    legs_s = statistics.fmean(trip_s(region, 0.0, order) for order in make_orders(sample, rng, [0.0] * 2000))
    best = Capacity(0.0, 0.0, 0.0, 0.0)
    for busy in (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.88, 0.9, 0.92, 0.94, 0.96, 0.98):
        pickup_m = nominal_pickup_m(region, rng, args.steady_drivers, busy, args.radius_m)
        mean_trip = legs_s + pickup_m * region.circuity_factor / SPEED_MPS
        per_min = busy * args.steady_drivers / mean_trip * 60
        if per_min > best.per_min:
            best = Capacity(per_min, busy, pickup_m, mean_trip)
    return best


def steady(region: Region, args: argparse.Namespace, fleet_capacity: Capacity, load: float) -> SteadyCase:
    """Orders arrive as a Poisson process at ``load`` of the capacity; the fleet starts as busy
    as at the capacity's peak, its trips ending uniformly over one trip's time."""
    rng = random.Random(args.seed + round(load * 1000))
    sample = PointSampler(region, rng)
    fleet = make_fleet(
        sample, rng, args.steady_drivers, busy_share=fleet_capacity.busy, busy_for_s=fleet_capacity.trip_s
    )
    warmup_s, end_s = args.warmup_min * 60, (args.warmup_min + args.steady_min) * 60
    times, at = [], 0.0
    while (at := at + rng.expovariate(load * fleet_capacity.per_min / 60)) < end_s:
        times.append(at)
    orders = make_orders(sample, rng, times)
    runs = [
        City(
            region,
            orders,
            fleet,
            radius_m=args.radius_m,
            waiting_weight=args.waiting_weight,
            window_s=window,
            until_s=end_s,
            measure_from_s=warmup_s,
            track_starved=True,
        ).simulate()
        for window in (None, 2.0)
    ]
    return SteadyCase(load, args.steady_drivers, fleet_capacity, runs)


def random_window(
    sample: PointSampler, rng: random.Random, drivers: int, jobs: int
) -> tuple[list[matching.WaitingJob], list[matching.FreeDriver]]:
    """A window of random facts: jobs waited up to a minute, one in ten excludes 1-3 drivers."""
    free = [matching.FreeDriver(d.id, d.lat, d.lng, d.vehicle) for d in make_fleet(sample, rng, drivers)]
    waiting = [
        matching.WaitingJob(
            o.id,
            o.lat,
            o.lng,
            o.vehicle,
            rng.uniform(0, 60),
            frozenset(rng.choice(free).id for _ in range(rng.randint(1, 3)))
            if rng.random() < 0.1
            else frozenset(),
        )
        for o in make_orders(sample, rng, [0.0] * jobs)
    ]
    return waiting, free


def solve_timing(region: Region, args: argparse.Namespace, drivers: int, jobs: int, runs: int) -> SolveTiming:
    rng = random.Random(args.seed + drivers)
    sample = PointSampler(region, rng)
    solve_ms, greedy_ms, edges, matched, greedy_matched = [], [], [], [], []
    vs_all: float | None = None
    kwargs = {"radius_m": args.radius_m, "waiting_weight": args.waiting_weight}
    for run in range(runs):
        waiting, free = random_window(sample, rng, drivers, jobs)
        solution = matching.solve(waiting, free, **kwargs)
        solve_ms.append(solution.solve_s * 1000)
        edges.append(solution.edges)
        matched.append(len(solution.matches))
        if run < 3:
            # Greedy is not the subject here: a few runs give its order of magnitude.
            myopic = matching.greedy(waiting, free, **kwargs)
            greedy_ms.append(myopic.solve_s * 1000)
            greedy_matched.append(len(myopic.matches))
        if run == 0 and drivers * jobs <= 1_000_000:
            # What keeping the nearest drivers only costs: every edge within the radius.
            full = matching.solve(waiting, free, max_edges_per_job=None, **kwargs)
            if len(full.matches) == len(solution.matches):
                vs_all = sum(m.distance_m for m in solution.matches) / sum(m.distance_m for m in full.matches)
    return SolveTiming(
        drivers,
        jobs,
        solve_ms,
        greedy_ms,
        statistics.fmean(edges),
        statistics.fmean(matched),
        statistics.fmean(greedy_matched),
        vs_all,
    )


def main() -> None:
    args = parse_args()
    region = berlin()
    print(
        f"radius {args.radius_m:,.0f} m, waiting weight {args.waiting_weight:.2f} m/s, "
        f"{matching.DEFAULT_MAX_EDGES_PER_JOB} nearest drivers per job, speed {SPEED_MPS * 3.6:g} km/h, "
        f"circuity {region.circuity_factor}"
    )
    goals = []
    if 1 in args.only:
        goals += report_small_burst(burst(region, args, 300, 200, 100.0, [2.0]), args.trials)
    if 2 in args.only:
        fleet_capacity = capacity(region, args)
        cases = [steady(region, args, fleet_capacity, load) for load in args.steady_loads]
        goals += report_steady(cases, args.steady_min, args.warmup_min)
    if 3 in args.only:
        goals += report_large_burst(burst(region, args, 1000, 800, 32.0, [2.0, 5.0, 10.0]), args.trials)
    if 4 in args.only:
        timings = [
            solve_timing(region, args, 1000, 800, args.solve_runs),
            solve_timing(region, args, 5000, 4000, args.solve_runs_large),
        ]
        goals += report_solve(timings)
    report_goals(goals)


if __name__ == "__main__":
    main()
