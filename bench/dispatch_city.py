"""Part 2, a simulated city: greedy dispatch against the optimal assignment of the same snapshot."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.common import percentile
from bench.dispatch_fleet import PointSampler
from logistics.geo import haversine_m


@dataclass
class CityResult:
    drivers: int
    jobs: int
    trials: int
    greedy_m: float
    optimal_m: float
    greedy_p90_m: float
    optimal_p90_m: float
    greedy_max_m: float
    optimal_max_m: float


def simulate_city(drivers: int, jobs: int, trials: int, sample: PointSampler) -> CityResult:
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    greedy_all: list[float] = []
    optimal_all: list[float] = []
    for _ in range(trials):
        fleet = [sample() for _ in range(drivers)]
        orders = [sample() for _ in range(jobs)]  # in arrival order
        matrix = np.array([[haversine_m(jl, jg, dl, dg) for dl, dg in fleet] for jl, jg in orders])

        free = set(range(drivers))
        for j in range(jobs):
            if not free:
                break
            row = matrix[j]
            best = min(free, key=lambda d: (row[d], d))
            free.remove(best)
            greedy_all.append(float(row[best]))

        rows, cols = linear_sum_assignment(matrix)
        optimal_all.extend(float(v) for v in matrix[rows, cols])

    return CityResult(
        drivers,
        jobs,
        trials,
        statistics.fmean(greedy_all),
        statistics.fmean(optimal_all),
        percentile(greedy_all, 90),
        percentile(optimal_all, 90),
        max(greedy_all),
        max(optimal_all),
    )
