"""A job's status and the lifecycle table: what may happen next from each status, who may
make each step, and what the status means for the rest of the platform.

This table is the only statement of the state machine of API.md ("The job and its
lifecycle"); everything that asks "may this happen now?" reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    SEARCHING = "searching"
    ACCEPTED = "accepted"
    PICKUP_STARTED = "pickup_started"
    PICKUP_ARRIVED = "pickup_arrived"
    PICKUP_COMPLETED = "pickup_completed"
    DROPOFF_STARTED = "dropoff_started"
    DROPOFF_ARRIVED = "dropoff_arrived"
    DROPOFF_COMPLETED = "dropoff_completed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


S = JobStatus


class Trait(StrEnum):
    """What a status means for the rest of the platform."""

    ACTIVE = "active"  # a driver holds the job and is working on it
    FREE_CANCEL = "free_cancel"  # cancelling costs nothing: no driver has set out yet
    PICKED_UP = "picked_up"  # the parcel is on board (the ETA counts only the dropoff leg)
    PICKUP_EDITABLE = "pickup_editable"  # details of the pickup stop may still change
    DELIVERED = "delivered"  # the job has been delivered: it may be tipped
    HAS_ETA = "has_eta"  # an ETA makes sense


@dataclass(frozen=True)
class Stage:
    """What a status allows. ``next`` is every status reachable in one step; ``by`` says who
    makes the step into this status; ``traits`` answer the platform's other questions."""

    next: tuple[JobStatus, ...]
    by: str
    traits: frozenset[Trait] = frozenset()

    def has(self, trait: Trait) -> bool:
        return trait in self.traits


def _stage(next: tuple[JobStatus, ...], by: str, *traits: Trait) -> Stage:
    return Stage(next, by, frozenset(traits))


T = Trait
# Before the pickup, in transit, after the dropoff.
_WAITING = (T.FREE_CANCEL, T.PICKUP_EDITABLE)
_TO_PICKUP = (T.ACTIVE, T.PICKUP_EDITABLE, T.HAS_ETA)
_TO_DROPOFF = (T.ACTIVE, T.PICKED_UP, T.HAS_ETA)

LIFECYCLE: dict[JobStatus, Stage] = {
    S.AWAITING_PAYMENT: _stage((S.SEARCHING, S.CANCELLED), "customer", *_WAITING),
    S.SEARCHING: _stage((S.ACCEPTED, S.CANCELLED), "system", *_WAITING, T.HAS_ETA),
    S.ACCEPTED: _stage((S.PICKUP_STARTED, S.CANCELLED), "driver", *_TO_PICKUP),
    S.PICKUP_STARTED: _stage((S.PICKUP_ARRIVED, S.CANCELLED), "driver", *_TO_PICKUP),
    S.PICKUP_ARRIVED: _stage((S.PICKUP_COMPLETED, S.CANCELLED), "driver", *_TO_PICKUP),
    S.PICKUP_COMPLETED: _stage((S.DROPOFF_STARTED,), "driver", *_TO_DROPOFF),
    S.DROPOFF_STARTED: _stage((S.DROPOFF_ARRIVED,), "driver", *_TO_DROPOFF),
    S.DROPOFF_ARRIVED: _stage((S.DROPOFF_COMPLETED,), "driver", *_TO_DROPOFF),
    S.DROPOFF_COMPLETED: _stage((S.COMPLETED,), "driver", *_TO_DROPOFF, T.DELIVERED),
    S.COMPLETED: _stage((), "driver", T.DELIVERED),
    S.CANCELLED: _stage((), "customer"),
}

# The driver's steps, by their REST path segment.
DRIVER_STEPS: dict[str, JobStatus] = {
    "start-pickup": S.PICKUP_STARTED,
    "arrive-pickup": S.PICKUP_ARRIVED,
    "complete-pickup": S.PICKUP_COMPLETED,
    "start-dropoff": S.DROPOFF_STARTED,
    "arrive-dropoff": S.DROPOFF_ARRIVED,
    "complete-dropoff": S.DROPOFF_COMPLETED,
    "complete": S.COMPLETED,
}


def stage(status: str) -> Stage:
    return LIFECYCLE[JobStatus(status)]


def statuses(trait: Trait) -> tuple[JobStatus, ...]:
    """Every status with ``trait`` (for SQL ``IN`` lists)."""
    return tuple(status for status, st in LIFECYCLE.items() if st.has(trait))


ACTIVE_STATUSES = statuses(Trait.ACTIVE)


def is_active(status: str) -> bool:
    return stage(status).has(Trait.ACTIVE)


def is_terminal(status: str) -> bool:
    return not stage(status).next
