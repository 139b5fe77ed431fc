"""The subscription documents and event payloads that both ways of subscribing use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from logistics.pubsub import issues_channel, job_channel, location_channel, messages_channel
from tests.conftest import Clock
from tests.factories import ALEXANDERPLATZ

MISSING_ID = "01JZZZZZZZZZZZZZZZZZZZZZZZ"

JOB_UPDATED = """
subscription Updates($jobId: ID!) {
  jobUpdated(jobId: $jobId) { jobId status previous at driverId eta { seconds dropoffAt } }
}
"""
DRIVER_LOCATION = """
subscription Where($jobId: ID!) {
  driverLocation(jobId: $jobId) { jobId point { lat lng } headingDeg speedMps recordedAt etaSeconds }
}
"""
MESSAGE_RECEIVED = """
subscription Chat($jobId: ID!) { messageReceived(jobId: $jobId) { id jobId senderRole body readAt } }
"""
ISSUE_REPORTED = """
subscription Issues($jobId: ID!) {
  issueReported(jobId: $jobId) { id jobId type description status reportedBy imageIds }
}
"""
AVAILABLE_JOBS = """
subscription Feed($lat: Float!, $lng: Float!, $radiusM: Int!) {
  availableJobs(lat: $lat, lng: $lng, radiusM: $radiusM) {
    jobId change distanceM vehicleType pickup { lat lng } driverEarnings { amount currency }
  }
}
"""
JOB_OFFERS = """
subscription Offers {
  jobOffers { offerId jobId expiresAt distanceM pickup { lat lng } driverEarnings { amount currency } }
}
"""
JOB_SUBSCRIPTIONS = {
    "jobUpdated": (JOB_UPDATED, job_channel),
    "driverLocation": (DRIVER_LOCATION, location_channel),
    "messageReceived": (MESSAGE_RECEIVED, messages_channel),
    "issueReported": (ISSUE_REPORTED, issues_channel),
}
ROLLED_BACK_MESSAGES = """
mutation TwoMessages($jobId: ID!) {
  first: sendMessage(jobId: $jobId, body: "never heard") { id }
  second: sendMessage(jobId: $jobId, body: "") { id }
}
"""


def point(where: dict[str, float]) -> dict[str, Any]:
    return {"point": where}


def offer_event(clock: Clock, job_id: str, offer_id: str = "offer-1") -> dict[str, Any]:
    """An offer as dispatch publishes it (dispatch itself is tested elsewhere)."""
    return {
        "offer_id": offer_id,
        "job_id": job_id,
        "expires_at": (clock.now + timedelta(seconds=30)).isoformat(),
        "pickup": ALEXANDERPLATZ,
        "distance_m": 420,
        "driver_earnings": {"amount": 740, "currency": "EUR"},
    }


def location(clock: Clock, where: dict[str, float], **extra: Any) -> dict[str, Any]:
    # Device time moves on with every report; a report no newer than the stored one is ignored.
    clock.advance(seconds=5)
    return {**where, "recorded_at": clock.now.isoformat(), **extra}
