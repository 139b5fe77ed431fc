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


@dataclass(frozen=True)
class Stage:
    """What a status allows. ``next`` is every status reachable in one step; ``by`` says who
    makes the step into this status; the flags answer the platform's other questions."""

    next: tuple[JobStatus, ...]
    by: str
    # A driver holds the job and is working on it.
    active: bool = False
    # Cancelling costs nothing: no driver has set out yet.
    free_cancel: bool = False
    # The parcel is on board (ETA counts only the dropoff leg).
    picked_up: bool = False
    # Details of the pickup stop may still change.
    pickup_editable: bool = False
    # The job has been delivered: it may be tipped.
    delivered: bool = False
    # An ETA makes sense.
    has_eta: bool = False


LIFECYCLE: dict[JobStatus, Stage] = {
    S.AWAITING_PAYMENT: Stage(
        (S.SEARCHING, S.CANCELLED), by="customer", free_cancel=True, pickup_editable=True
    ),
    S.SEARCHING: Stage(
        (S.ACCEPTED, S.CANCELLED), by="system", free_cancel=True, pickup_editable=True, has_eta=True
    ),
    S.ACCEPTED: Stage(
        (S.PICKUP_STARTED, S.CANCELLED), by="driver", active=True, pickup_editable=True, has_eta=True
    ),
    S.PICKUP_STARTED: Stage(
        (S.PICKUP_ARRIVED, S.CANCELLED), by="driver", active=True, pickup_editable=True, has_eta=True
    ),
    S.PICKUP_ARRIVED: Stage(
        (S.PICKUP_COMPLETED, S.CANCELLED), by="driver", active=True, pickup_editable=True, has_eta=True
    ),
    S.PICKUP_COMPLETED: Stage((S.DROPOFF_STARTED,), by="driver", active=True, picked_up=True, has_eta=True),
    S.DROPOFF_STARTED: Stage((S.DROPOFF_ARRIVED,), by="driver", active=True, picked_up=True, has_eta=True),
    S.DROPOFF_ARRIVED: Stage((S.DROPOFF_COMPLETED,), by="driver", active=True, picked_up=True, has_eta=True),
    S.DROPOFF_COMPLETED: Stage(
        (S.COMPLETED,), by="driver", active=True, picked_up=True, delivered=True, has_eta=True
    ),
    S.COMPLETED: Stage((), by="driver", delivered=True),
    S.CANCELLED: Stage((), by="customer"),
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


def statuses(flag: str) -> tuple[JobStatus, ...]:
    """Every status whose stage has ``flag`` set (for SQL ``IN`` lists)."""
    return tuple(status for status, st in LIFECYCLE.items() if getattr(st, flag))


ACTIVE_STATUSES = statuses("active")


def is_active(status: str) -> bool:
    return stage(status).active


def is_terminal(status: str) -> bool:
    return not stage(status).next
