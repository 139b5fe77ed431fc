"""Batched dispatch: one min-cost matching of the waiting jobs to the free drivers per window.

Pure: facts in, pairs out. The caller brings the waiting jobs and the drivers the feed rule
lets dispatch offer to (free, fresh, approved); this module adds what concerns a pair: the
radius, the vehicle rule, the drivers a job must not be offered again. :func:`greedy` is
today's policy on the same inputs, so that both can be compared on one set of facts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching, min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

from logistics.geo import EARTH_RADIUS_M
from logistics.job.feed import vehicle_fits

# Metres of pickup a second of waiting is worth: ten minutes outweigh any difference within
# dispatch's 10 km radius, so a job loses a driver only to jobs less than ten minutes younger
# (see solve), while a minute (1.7 km) still lets a window prefer the short pickups.
DEFAULT_WAITING_WEIGHT = 10_000 / 600
# Each job keeps its nearest eligible drivers only, so the graph grows with the jobs alone;
# a job whose list ran out while farther drivers were left gets another pass (see solve).
DEFAULT_MAX_EDGES_PER_JOB = 16


@dataclass(frozen=True)
class WaitingJob:
    id: str
    lat: float
    lng: float
    vehicle_type: str
    waiting_s: float
    excluded: frozenset[str] = frozenset()  # drivers who rejected it or let an offer expire


@dataclass(frozen=True)
class FreeDriver:
    id: str
    lat: float
    lng: float
    vehicle_type: str


@dataclass(frozen=True)
class Match:
    job_id: str
    driver_id: str
    distance_m: float  # great circle, driver to pickup: haversine_m's figure
    cost: float  # distance_m - waiting_weight * waiting_s


@dataclass
class Solution:
    matches: list[Match]
    solve_s: float  # wall time of the whole call: edges, matching, result
    edges: int = 0  # candidate pairs considered, over all passes


def _xyz(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Points on the sphere in metres: the straight chord between two of them grows with
    their great-circle distance, so a k-d tree finds the nearest by haversine exactly."""
    lat, lng = np.radians(np.asarray(points, dtype=float).reshape(-1, 2)).T
    return (
        np.column_stack((np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat))) * EARTH_RADIUS_M
    )


def _reach(radius_m: float) -> float:
    """The chord of ``radius_m``, a hair longer: a driver exactly on the circle is within."""
    return 2 * EARTH_RADIUS_M * math.sin(min(radius_m / (2 * EARTH_RADIUS_M), math.pi / 2)) + 1e-6


def _arc(chord: np.ndarray) -> np.ndarray:
    """The great-circle distance of a chord: haversine_m's figure (same sphere), for a whole
    array at once; calling it pair by pair would cost a window of 4,000 jobs 20 ms."""
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, chord / (2 * EARTH_RADIUS_M)))


def _fitting(drivers: Sequence[FreeDriver], job_vehicle: str) -> np.ndarray:
    """Which drivers' vehicles may take a job booked for ``job_vehicle`` (a mask)."""
    fits = {v: vehicle_fits(v, job_vehicle) for v in {d.vehicle_type for d in drivers}}
    return np.array([fits[d.vehicle_type] for d in drivers], dtype=bool)


def candidate_edges(
    jobs: Sequence[WaitingJob], drivers: Sequence[FreeDriver], radius_m: float, max_per_job: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(job index, driver index, distance in metres) of every pair that may be offered, the
    nearest ``max_per_job`` per job (all with None), and a mask of the jobs that may have
    more within the radius than were kept.

    One k-d tree per booked vehicle type over the drivers that fit it, asked for each job's
    nearest: the work grows with jobs x log(drivers), not jobs x drivers. H3 rings or a grid
    would measure every driver of a 10 km neighbourhood, a third of the city, to keep 16.
    """
    empty = np.empty(0, dtype=np.int64)
    more = np.zeros(len(jobs), dtype=bool)
    if not jobs or not drivers:
        return empty, empty, np.empty(0), more
    job_xyz = _xyz([(j.lat, j.lng) for j in jobs])
    driver_xyz = _xyz([(d.lat, d.lng) for d in drivers])
    index = {d.id: i for i, d in enumerate(drivers)}
    # Pairs never to offer, each as job * len(drivers) + driver.
    excluded = np.asarray(
        [j * len(drivers) + index[x] for j, job in enumerate(jobs) for x in job.excluded if x in index],
        dtype=np.int64,
    )
    bound = _reach(radius_m)
    job_types = np.array([j.vehicle_type for j in jobs])
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for vehicle in sorted(set(job_types.tolist())):
        fits = np.flatnonzero(_fitting(drivers, vehicle))
        if not fits.size:
            continue
        rows = np.flatnonzero(job_types == vehicle)
        # Ask for as many more as a job excludes, so the exclusions do not eat its list.
        extra = max(len(jobs[r].excluded) for r in rows.tolist())
        k = fits.size if max_per_job is None else min(fits.size, max_per_job + extra)
        gaps, found = cKDTree(driver_xyz[fits]).query(
            job_xyz[rows], k=list(range(1, k + 1)), distance_upper_bound=bound
        )
        valid = found < fits.size
        cols = fits[np.minimum(found, fits.size - 1)]
        row_grid = np.broadcast_to(rows[:, None], found.shape)
        if excluded.size:
            valid &= ~np.isin(row_grid * len(drivers) + cols, excluded)
        if max_per_job is not None:
            rank = np.cumsum(valid, axis=1)
            # Candidates were cut, or every slot asked for held one: there may be more.
            beyond = (found[:, -1] < fits.size) & (k < fits.size)
            more[rows[(rank[:, -1] > max_per_job) | beyond]] = True
            valid &= rank <= max_per_job
        parts.append((row_grid[valid], cols[valid], _arc(gaps[valid])))
    if not parts:
        return empty, empty, np.empty(0), more
    rows_all, cols_all, dist_all = (np.concatenate(p) for p in zip(*parts, strict=True))
    return rows_all, cols_all, dist_all, more


def _min_cost(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The edges (indices into rows/cols/cost) of the most pairs at the least total cost.

    LAPJVsp on the sparse graph, not ``linear_sum_assignment``: a city's candidate graph is
    one connected component, 20 million cells dense at 4,000 x 5,000 against 64,000 edges.
    ``min_weight_full_bipartite_matching`` matches all of the smaller side or fails; when a
    maximum matching (Hopcroft-Karp, under a millisecond) shows it cannot, each job gets a
    private "nobody" column dearer than all real edges of any matching together, so one more
    real pair beats any saving in distance. Only then: the padding slows LAPJVsp down.
    """
    _, job_of = np.unique(rows, return_inverse=True)
    _, driver_of = np.unique(cols, return_inverse=True)
    n, m = int(job_of.max()) + 1, int(driver_of.max()) + 1
    # The solver takes no zero weights; every matching it may return has the same number of
    # pairs, so adding one constant to every edge changes no choice.
    shifted = cost - cost.min() + 1.0
    graph = csr_matrix((shifted, (job_of, driver_of)), shape=(n, m))
    if int((maximum_bipartite_matching(graph, perm_type="column") >= 0).sum()) < min(n, m):
        padded_rows = np.concatenate((job_of, np.arange(n)))
        padded_cols = np.concatenate((driver_of, m + np.arange(n)))
        nobody = np.full(n, n * float(shifted.max()) + 1.0)
        graph = csr_matrix((np.concatenate((shifted, nobody)), (padded_rows, padded_cols)), shape=(n, m + n))
    job_ind, driver_ind = min_weight_full_bipartite_matching(graph)
    real = driver_ind < m
    codes = job_of.astype(np.int64) * m + driver_of
    order = np.argsort(codes)
    wanted = job_ind[real].astype(np.int64) * m + driver_ind[real]
    return np.asarray(order[np.searchsorted(codes[order], wanted)])


def _match(job: WaitingJob, driver: FreeDriver, distance: float, waiting_weight: float) -> Match:
    return Match(job.id, driver.id, distance, distance - waiting_weight * job.waiting_s)


def solve(
    jobs: Sequence[WaitingJob],
    drivers: Sequence[FreeDriver],
    *,
    radius_m: float,
    waiting_weight: float = DEFAULT_WAITING_WEIGHT,
    max_edges_per_job: int | None = DEFAULT_MAX_EDGES_PER_JOB,
) -> Solution:
    """One window: as many jobs matched as possible, then the least total cost, where a
    pair costs the pickup distance minus ``waiting_weight`` metres per second the job waited.

    Why a bonus linear in the time waited: it is the same whichever driver a job gets, so
    between two matchings that serve the same jobs it cancels out and never sends a driver
    farther; it only decides who is served when drivers are short. If job A stays unmatched
    while B holds a driver A could take, giving that driver to A is a matching as large, so
    optimality gives ``waiting_weight * (waited_A - waited_B) <= d_A - d_B <= radius_m``: at
    equal distances the older job wins, and a job never loses a driver to one that came
    ``radius_m / waiting_weight`` seconds after it. Only the finitely many jobs ahead of that
    bound can pass it, each leaves once served, so no job starves while drivers free up
    within its radius. A bonus that levelled off would let a steady stream of near newcomers
    keep a far job waiting for ever.
    """
    started = time.perf_counter()
    matches: list[Match] = []
    edges = 0
    jobs_left, drivers_left = list(jobs), list(drivers)
    while jobs_left and drivers_left:
        rows, cols, dist, more = candidate_edges(jobs_left, drivers_left, radius_m, max_edges_per_job)
        if not rows.size:
            break
        edges += rows.size
        waited = np.array([j.waiting_s for j in jobs_left], dtype=float)
        chosen = _min_cost(rows, cols, dist - waiting_weight * waited[rows])
        job_ind, driver_ind = rows[chosen], cols[chosen]
        for j, d, distance in zip(job_ind.tolist(), driver_ind.tolist(), dist[chosen].tolist(), strict=True):
            matches.append(_match(jobs_left[j], drivers_left[d], distance, waiting_weight))
        # A job left over with its whole list within the radius has every driver of it
        # taken: another pass can only help one whose list was cut short.
        more[job_ind] = False
        taken = set(driver_ind.tolist())
        jobs_left = [jobs_left[j] for j in np.flatnonzero(more)]
        drivers_left = [d for i, d in enumerate(drivers_left) if i not in taken]
    return Solution(matches, time.perf_counter() - started, edges)


def greedy(
    jobs: Sequence[WaitingJob],
    drivers: Sequence[FreeDriver],
    *,
    radius_m: float,
    waiting_weight: float = DEFAULT_WAITING_WEIGHT,
) -> Solution:
    """Today's policy on the same facts: the oldest job first takes its nearest free driver
    that fits and is not excluded, within the radius; ``waiting_weight`` only prices the
    result the way :func:`solve` does."""
    started = time.perf_counter()
    matches: list[Match] = []
    if not jobs or not drivers:
        return Solution(matches, time.perf_counter() - started)
    driver_xyz = _xyz([(d.lat, d.lng) for d in drivers])
    index = {d.id: i for i, d in enumerate(drivers)}
    free = np.ones(len(drivers), dtype=bool)
    fitting = {v: _fitting(drivers, v) for v in {j.vehicle_type for j in jobs}}
    bound = _reach(radius_m)
    for job in sorted(jobs, key=lambda j: (-j.waiting_s, j.id)):
        allowed = free & fitting[job.vehicle_type]
        for driver_id in job.excluded:
            if driver_id in index:
                allowed[index[driver_id]] = False
        candidates = np.flatnonzero(allowed)
        if not candidates.size:
            continue
        gaps = np.linalg.norm(driver_xyz[candidates] - _xyz([(job.lat, job.lng)])[0], axis=1)
        best = int(np.argmin(gaps))
        if gaps[best] > bound:
            continue
        free[candidates[best]] = False
        distance = float(_arc(gaps[best : best + 1])[0])
        matches.append(_match(job, drivers[candidates[best]], distance, waiting_weight))
    return Solution(matches, time.perf_counter() - started)
