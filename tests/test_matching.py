"""Batched dispatch's matching (``logistics.dispatch.matching``): which driver each waiting
job is offered in a window, against today's greedy policy and against brute force.

Pure functions over facts: no database, no clock. The crafted cases put their points on the
meridian through central Berlin, where a distance is the difference of the offsets; the
random ones scatter them around it.
"""

from __future__ import annotations

import math
import random
from itertools import permutations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from logistics.dispatch.matching import FreeDriver, Match, WaitingJob, greedy, solve
from logistics.geo import EARTH_RADIUS_M, haversine_m
from logistics.job.feed import vehicle_fits

LAT, LNG = 52.52, 13.405
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180
VEHICLES = ["bicycle", "motorbike", "car", "van"]


def at(metres_north: float, metres_east: float = 0.0) -> tuple[float, float]:
    return (
        LAT + metres_north / METRES_PER_DEGREE,
        LNG + metres_east / (METRES_PER_DEGREE * math.cos(math.radians(LAT))),
    )


def job(
    job_id: str,
    north: float,
    *,
    east: float = 0.0,
    vehicle: str = "bicycle",
    waiting_s: float = 0.0,
    excluded: tuple[str, ...] = (),
) -> WaitingJob:
    return WaitingJob(job_id, *at(north, east), vehicle, waiting_s, frozenset(excluded))


def driver(driver_id: str, north: float, *, east: float = 0.0, vehicle: str = "car") -> FreeDriver:
    return FreeDriver(driver_id, *at(north, east), vehicle)


def pairs(matches: list[Match]) -> dict[str, str]:
    return {m.job_id: m.driver_id for m in matches}


def total(matches: list[Match]) -> float:
    return sum(m.distance_m for m in matches)


def allowed(j: WaitingJob, d: FreeDriver, radius_m: float) -> float | None:
    """The rule written out pair by pair: the pickup distance, or None when not allowed."""
    distance = haversine_m(d.lat, d.lng, j.lat, j.lng)
    if distance > radius_m or d.id in j.excluded or not vehicle_fits(d.vehicle_type, j.vehicle_type):
        return None
    return distance


def random_instance(
    rng: random.Random, n_jobs: int, n_drivers: int, spread_m: float
) -> tuple[list[WaitingJob], list[FreeDriver]]:
    drivers = [
        driver(
            f"d{i}",
            rng.uniform(-spread_m, spread_m),
            east=rng.uniform(-spread_m, spread_m),
            vehicle=rng.choice(VEHICLES),
        )
        for i in range(n_drivers)
    ]
    jobs = [
        job(
            f"j{i}",
            rng.uniform(-spread_m, spread_m),
            east=rng.uniform(-spread_m, spread_m),
            vehicle=rng.choice(VEHICLES),
            waiting_s=rng.uniform(0, 120),
            excluded=tuple(d.id for d in drivers if rng.random() < 0.15),
        )
        for i in range(n_jobs)
    ]
    return jobs, drivers


def check_valid(
    matches: list[Match], jobs: list[WaitingJob], drivers: list[FreeDriver], radius_m: float, weight: float
) -> None:
    """What every answer must satisfy, whatever the instance."""
    by_job = {j.id: j for j in jobs}
    by_driver = {d.id: d for d in drivers}
    assert len({m.job_id for m in matches}) == len(matches), "a job matched twice"
    assert len({m.driver_id for m in matches}) == len(matches), "a driver matched twice"
    for m in matches:
        j, d = by_job[m.job_id], by_driver[m.driver_id]
        distance = allowed(j, d, radius_m)
        assert distance is not None, f"{m} breaks the radius, the vehicle rule or an exclusion"
        assert m.distance_m == pytest.approx(distance, abs=1e-3)
        assert m.cost == pytest.approx(m.distance_m - weight * j.waiting_s, abs=1e-3)


def brute_force(
    jobs: list[WaitingJob], drivers: list[FreeDriver], radius_m: float, weight: float
) -> tuple[int, float]:
    """(most pairs, least cost among those) over every way to give drivers to jobs."""
    best = (0, 0.0)
    slots: list[FreeDriver | None] = [*drivers, *([None] * len(jobs))]
    for chosen in set(permutations(range(len(slots)), len(jobs))):
        count, cost = 0, 0.0
        for j, slot in zip(jobs, chosen, strict=True):
            d = slots[slot]
            if d is None:
                continue
            distance = allowed(j, d, radius_m)
            if distance is None:
                break
            count, cost = count + 1, cost + distance - weight * j.waiting_s
        else:
            if count > best[0] or (count == best[0] and cost < best[1]):
                best = (count, cost)
    return best


def test_batched_matching_beats_greedy_where_greedy_is_myopic() -> None:
    # The older job A takes the driver just nearer to it, and B must then fetch the far one;
    # giving A the other driver costs A 100 m more and saves B 1,000 m.
    jobs = [job("A", 450, waiting_s=30), job("B", -100, waiting_s=5)]
    drivers = [driver("near", 0), driver("far", 1000)]

    batched = solve(jobs, drivers, radius_m=5000)
    myopic = greedy(jobs, drivers, radius_m=5000)

    assert pairs(myopic.matches) == {"A": "near", "B": "far"}
    assert pairs(batched.matches) == {"A": "far", "B": "near"}
    assert total(batched.matches) == pytest.approx(650, abs=0.01)
    assert total(myopic.matches) == pytest.approx(1550, abs=0.01)


def test_an_excluded_driver_is_never_offered_the_job() -> None:
    jobs = [job("A", 0, excluded=("near",))]
    drivers = [driver("near", 10), driver("far", 2000)]

    for policy in (solve, greedy):
        assert pairs(policy(jobs, drivers, radius_m=5000).matches) == {"A": "far"}
        # With nobody else, the job waits rather than going to the driver who passed on it.
        assert policy(jobs, drivers[:1], radius_m=5000).matches == []


def test_the_vehicle_rule_holds() -> None:
    for policy in (solve, greedy):
        # The bicycle beside the van job may not carry it: the van farther away does.
        drivers = [driver("bike", 10, vehicle="bicycle"), driver("van", 3000, vehicle="van")]
        assert pairs(policy([job("A", 0, vehicle="van")], drivers, radius_m=5000).matches) == {"A": "van"}
        assert policy([job("A", 0, vehicle="car")], drivers[:1], radius_m=5000).matches == []
        # A larger vehicle may carry a smaller job.
        assert pairs(policy([job("A", 0)], drivers[1:], radius_m=5000).matches) == {"A": "van"}


def test_a_driver_beyond_the_radius_is_not_offered_the_job() -> None:
    jobs = [job("A", 0)]
    for policy in (solve, greedy):
        assert policy(jobs, [driver("d", 1500)], radius_m=1000).matches == []
        assert pairs(policy(jobs, [driver("d", 990)], radius_m=1000).matches) == {"A": "d"}


def test_a_contested_driver_goes_to_the_older_job() -> None:
    # One driver between two jobs, the younger one 40 m nearer: a minute of waiting weighs more.
    jobs = [job("young", 460, waiting_s=5), job("old", -500, waiting_s=65)]
    drivers = [driver("d", 0)]

    assert pairs(solve(jobs, drivers, radius_m=5000, waiting_weight=5).matches) == {"old": "d"}
    assert pairs(greedy(jobs, drivers, radius_m=5000).matches) == {"old": "d"}
    # Without the bonus the nearer job would have won: the waiting time is what decides.
    assert pairs(solve(jobs, drivers, radius_m=5000, waiting_weight=0).matches) == {"young": "d"}


def test_a_job_whose_nearest_drivers_are_taken_still_gets_a_farther_one() -> None:
    # Each job keeps one candidate only, the same driver for both: the job that loses it
    # gets the driver left over in another pass instead of waiting beside it.
    jobs = [job("A", 0, waiting_s=50), job("B", 20, waiting_s=10)]
    drivers = [driver("shared", 10), driver("spare", 3000)]

    result = solve(jobs, drivers, radius_m=5000, max_edges_per_job=1)

    assert pairs(result.matches) == {"A": "shared", "B": "spare"}


@pytest.mark.parametrize("seed", range(40))
def test_tiny_instances_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    jobs, drivers = random_instance(rng, rng.randint(1, 5), rng.randint(1, 5), spread_m=3000)
    radius_m, weight = rng.choice([1500.0, 3000.0, 10_000.0]), rng.choice([0.0, 5.0, 40.0])

    result = solve(jobs, drivers, radius_m=radius_m, waiting_weight=weight)

    check_valid(result.matches, jobs, drivers, radius_m, weight)
    count, cost = brute_force(jobs, drivers, radius_m, weight)
    assert len(result.matches) == count
    assert sum(m.cost for m in result.matches) == pytest.approx(cost, abs=1e-3)


@pytest.mark.parametrize("seed", range(10))
def test_larger_instances_match_a_dense_assignment(seed: int) -> None:
    # The same objective through scipy's dense solver: each job may also take a "nobody"
    # column dearer than any set of real pairs, forbidden pairs dearer still.
    rng = random.Random(1000 + seed)
    jobs, drivers = random_instance(rng, 25, 30, spread_m=4000)
    radius_m, weight = 3000.0, 5.0
    nobody = 1e7
    matrix = np.full((len(jobs), len(drivers) + len(jobs)), 1e12)
    for r, j in enumerate(jobs):
        matrix[r, len(drivers) + r] = nobody
        for c, d in enumerate(drivers):
            distance = allowed(j, d, radius_m)
            if distance is not None:
                matrix[r, c] = distance - weight * j.waiting_s
    rows, cols = linear_sum_assignment(matrix)
    real = cols < len(drivers)

    result = solve(jobs, drivers, radius_m=radius_m, waiting_weight=weight, max_edges_per_job=None)

    check_valid(result.matches, jobs, drivers, radius_m, weight)
    assert len(result.matches) == int(real.sum())
    assert sum(m.cost for m in result.matches) == pytest.approx(
        float(matrix[rows[real], cols[real]].sum()), abs=1e-3
    )


@pytest.mark.parametrize("seed", range(5))
def test_no_unmatched_job_waits_beside_a_free_driver_it_may_take(seed: int) -> None:
    # Many drivers within each radius, so each job's list of candidates is cut short.
    rng = random.Random(2000 + seed)
    jobs, drivers = random_instance(rng, 150, 120, spread_m=3000)

    for policy in (solve, greedy):
        matches = policy(jobs, drivers, radius_m=2000, waiting_weight=5).matches
        check_valid(matches, jobs, drivers, 2000, 5)
        taken = {m.driver_id for m in matches}
        served = {m.job_id for m in matches}
        for j in jobs:
            if j.id not in served:
                assert all(allowed(j, d, 2000) is None for d in drivers if d.id not in taken), j.id


def test_nothing_to_match() -> None:
    assert solve([], [driver("d", 0)], radius_m=1000).matches == []
    assert solve([job("A", 0)], [], radius_m=1000).matches == []
    assert greedy([], [], radius_m=1000).matches == []
