"""The simulated city of ``dispatch_batch.py``: orders arriving, dispatch pairing them with free
drivers, drivers driving to the pickup and on to the dropoff, and reappearing there free.

Time is simulated (nothing sleeps): the state changes only at arrivals, at the end of trips
and, for batched dispatch, at the end of each window, so the loop jumps from one such
instant to the next. Every policy plays the same orders against the same starting fleet.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.dispatch_fleet import VEHICLE_MIX, PointSampler
from logistics.config import Region
from logistics.dispatch import matching
from logistics.geo import haversine_m, in_region

SPEED_MPS = 25 / 3.6  # every vehicle, door to door, on road distances
HANDLING_S = 120.0  # at the pickup and at the dropoff together
DROPOFF_M = (1_000.0, 5_000.0)  # straight-line trip length, uniform
# Most orders are small: the vehicle rule matters (a van job needs one of the few vans) but
# every class of job has more drivers who may take it than it has orders.
JOB_MIX = {"bicycle": 0.50, "motorbike": 0.25, "car": 0.20, "van": 0.05}


@dataclass(frozen=True)
class Order:
    id: str
    at_s: float
    lat: float
    lng: float
    drop_lat: float
    drop_lng: float
    vehicle: str


@dataclass(frozen=True)
class Start:
    """A driver as the simulation begins: free at (lat, lng) from ``free_at_s``."""

    id: str
    lat: float
    lng: float
    vehicle: str
    free_at_s: float = 0.0


@dataclass
class Run:
    policy: str
    orders: int
    pickups_m: list[float] = field(default_factory=list)  # offers made in the measured time
    waits_s: list[float] = field(default_factory=list)  # order to offer, measured orders served
    unserved_waits_s: list[float] = field(default_factory=list)  # still waiting at the end
    starved_max_s: float = 0.0  # longest a job waited while a driver it may take was free
    solve_ms: list[float] = field(default_factory=list)  # one per window (batched) or event


def dropoff(sample: PointSampler, rng: random.Random, lat: float, lng: float) -> tuple[float, float]:
    """A point a random trip length away in a random direction, inside the service area."""
    while True:
        distance, bearing = rng.uniform(*DROPOFF_M), rng.uniform(0, 2 * math.pi)
        dlat = distance * math.cos(bearing) / 111_195
        dlng = distance * math.sin(bearing) / (111_195 * math.cos(math.radians(lat)))
        if in_region(sample.region, lat + dlat, lng + dlng):
            return lat + dlat, lng + dlng


def make_orders(sample: PointSampler, rng: random.Random, times: list[float]) -> list[Order]:
    orders = []
    for i, at_s in enumerate(sorted(times)):
        lat, lng = sample()
        vehicle = rng.choices(list(JOB_MIX), list(JOB_MIX.values()))[0]
        orders.append(Order(f"o{i}", at_s, lat, lng, *dropoff(sample, rng, lat, lng), vehicle))
    return orders


def make_fleet(
    sample: PointSampler, rng: random.Random, n: int, busy_share: float = 0.0, busy_for_s: float = 0.0
) -> list[Start]:
    """``n`` drivers at random points; ``busy_share`` of them finish a trip at a uniformly
    random time within ``busy_for_s`` (a fleet already at work, not one that all starts free)."""
    fleet = []
    for i in range(n):
        lat, lng = sample()
        vehicle = rng.choices(list(VEHICLE_MIX), list(VEHICLE_MIX.values()))[0]
        free_at = rng.uniform(0, busy_for_s) if rng.random() < busy_share else 0.0
        fleet.append(Start(f"d{i}", lat, lng, vehicle, free_at))
    return fleet


def trip_s(region: Region, pickup_m: float, order: Order) -> float:
    drive_m = pickup_m + haversine_m(order.lat, order.lng, order.drop_lat, order.drop_lng)
    return drive_m * region.circuity_factor / SPEED_MPS + HANDLING_S


Policy = Callable[..., matching.Solution]


class City:
    """One policy over one set of orders. ``window_s`` None: greedy, run at every arrival and
    every driver freed (as today's dispatch offers a job when it is booked); else one
    ``matching.solve`` per window, its offers going out when the solve returns."""

    def __init__(
        self,
        region: Region,
        orders: list[Order],
        fleet: list[Start],
        *,
        radius_m: float,
        waiting_weight: float,
        window_s: float | None,
        until_s: float,
        measure_from_s: float = 0.0,
        track_starved: bool = False,
    ) -> None:
        self.region, self.radius_m, self.weight = region, radius_m, waiting_weight
        self.window_s, self.until_s, self.track_starved = window_s, until_s, track_starved
        # Orders before measure_from_s only bring the city to its steady state.
        self.measure_from_s = measure_from_s
        self.arrivals = sorted(orders, key=lambda o: o.at_s)
        self.waiting: dict[str, Order] = {}
        self.free: dict[str, matching.FreeDriver] = {}
        self.busy: list[tuple[float, str, float, float]] = []  # (free at, driver, where)
        self.vehicle_of = {d.id: d.vehicle for d in fleet}
        for d in fleet:
            if d.free_at_s > 0:
                heapq.heappush(self.busy, (d.free_at_s, d.id, d.lat, d.lng))
            else:
                self.free[d.id] = matching.FreeDriver(d.id, d.lat, d.lng, d.vehicle)
        name = "greedy" if window_s is None else f"batched {window_s:g} s"
        self.run = Run(name, sum(o.at_s >= measure_from_s for o in orders))
        self.starved_since: dict[str, float] = {}

    def simulate(self) -> Run:
        next_arrival, next_tick = 0, self.window_s if self.window_s is not None else math.inf
        while True:
            pending = next_arrival < len(self.arrivals)
            if not pending and not self.waiting:
                break
            times = [self.arrivals[next_arrival].at_s] if pending else []
            times += [self.busy[0][0]] if self.busy else []
            times += [next_tick] if self.window_s is not None else []
            if not times or (now := min(times)) > self.until_s:
                break
            while next_arrival < len(self.arrivals) and self.arrivals[next_arrival].at_s <= now:
                order = self.arrivals[next_arrival]
                self.waiting[order.id] = order
                next_arrival += 1
            while self.busy and self.busy[0][0] <= now:
                _, driver_id, lat, lng = heapq.heappop(self.busy)
                self.free[driver_id] = matching.FreeDriver(driver_id, lat, lng, self.vehicle_of[driver_id])
            if self.window_s is None:
                self.dispatch(now, matching.greedy)
            elif now >= next_tick:
                self.dispatch(now, matching.solve)
                next_tick += self.window_s
            if self.track_starved:
                self.note_starved(now)
        # Left waiting: the run stopped at until_s (or nothing could happen any more).
        self.run.unserved_waits_s = [
            self.until_s - o.at_s for o in self.waiting.values() if o.at_s >= self.measure_from_s
        ]
        self.note_starved(self.until_s, closing=True)
        return self.run

    def waiting_jobs(self, now: float) -> list[matching.WaitingJob]:
        return [
            matching.WaitingJob(o.id, o.lat, o.lng, o.vehicle, now - o.at_s) for o in self.waiting.values()
        ]

    def dispatch(self, now: float, policy: Policy) -> None:
        if not self.waiting or not self.free:
            return
        solution = policy(
            self.waiting_jobs(now),
            list(self.free.values()),
            radius_m=self.radius_m,
            waiting_weight=self.weight,
        )
        if now >= self.measure_from_s:
            self.run.solve_ms.append(solution.solve_s * 1000)
        # Greedy's offers leave at the event itself (a booking's own request makes them);
        # a window's leave when its solve returns.
        offered_at = now if self.window_s is None else now + solution.solve_s
        for m in solution.matches:
            order = self.waiting.pop(m.job_id)
            self.free.pop(m.driver_id)
            # Pickups of the offers made in the measured time, waits of the orders that arrived
            # in it: the same in a steady state, and a backlog from the warm-up still counts.
            if now >= self.measure_from_s:
                self.run.pickups_m.append(m.distance_m)
            if order.at_s >= self.measure_from_s:
                self.run.waits_s.append(offered_at - order.at_s)
            since = self.starved_since.pop(order.id, None)
            if since is not None:
                self.run.starved_max_s = max(self.run.starved_max_s, offered_at - since)
            done = offered_at + trip_s(self.region, m.distance_m, order)
            heapq.heappush(self.busy, (done, m.driver_id, order.drop_lat, order.drop_lng))

    def note_starved(self, now: float, closing: bool = False) -> None:
        """Which waiting jobs have a driver they may take free right now: the time a job
        spends so is the time dispatch lets a possible pickup wait."""
        starving: set[str] = set()
        if not closing and self.waiting and self.free:
            jobs = self.waiting_jobs(now)
            rows, _, _, _ = matching.candidate_edges(jobs, list(self.free.values()), self.radius_m, 1)
            starving = {jobs[r].id for r in set(rows.tolist())}
        for job_id in starving - self.starved_since.keys():
            self.starved_since[job_id] = now
        for job_id in list(self.starved_since.keys() - starving):
            self.run.starved_max_s = max(self.run.starved_max_s, now - self.starved_since.pop(job_id))


def hindsight(orders: list[Order], fleet: list[Start], radius_m: float) -> Run:
    """Every order of a burst given a driver at once, knowing all of them: the least total
    pickup distance (``linear_sum_assignment`` on the dense matrix), the radius and the
    vehicle rule kept. A bound no policy that learns the orders as they come can beat."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    from logistics.job.feed import vehicle_fits

    forbidden = 1e9
    matrix = np.full((len(orders), len(fleet)), forbidden)
    for r, o in enumerate(orders):
        for c, d in enumerate(fleet):
            if vehicle_fits(d.vehicle, o.vehicle):
                distance = haversine_m(o.lat, o.lng, d.lat, d.lng)
                if distance <= radius_m:
                    matrix[r, c] = distance
    rows, cols = linear_sum_assignment(matrix)
    run = Run("hindsight optimum", len(orders))
    chosen = [float(matrix[r, c]) for r, c in zip(rows, cols, strict=True) if matrix[r, c] < forbidden]
    run.pickups_m = chosen
    run.waits_s = [0.0] * len(chosen)
    run.unserved_waits_s = [math.inf] * (len(orders) - len(chosen))
    return run
