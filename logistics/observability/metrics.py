"""The service's Prometheus metrics, in one place: names, labels and buckets.

Every metric is defined here and updated where the thing happens (the request middleware, the
GraphQL extension, the live hub, pub/sub, dispatch, the ping buffer, the database pool, the
webhook worker). ``/metrics`` (:mod:`logistics.observability.scrape`) renders them.

Under ``logistics serve --workers N`` prometheus-client runs in multiprocess mode (each worker
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``, and a scrape sums them). That mode
decides the shapes here: gauges say how processes combine (``livesum``: the sum over the
workers alive), and nothing uses callbacks or custom collectors, which it cannot export.

Labels stay bounded whatever clients send: HTTP methods outside the standard set, and GraphQL
operation names past the first few hundred (or not shaped like a GraphQL name), are folded into
``other``.
"""

from __future__ import annotations

import re
from typing import Final

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# A ``_created`` series beside every counter and histogram doubles what is stored for a figure
# no panel reads (and multiprocess mode never exports it): off, for one process and many alike.
disable_created_metrics()

# -- HTTP -------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "logistics_http_requests",
    "HTTP requests answered, by method, route template (or 'unmatched') and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "logistics_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED: Final = "unmatched"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# -- GraphQL ----------------------------------------------------------------------------

GRAPHQL_OPERATIONS = Counter(
    "logistics_graphql_operations",
    "GraphQL operations run (HTTP and websocket), by operation name, type and whether they had errors",
    ["operation", "type", "errors"],
)
GRAPHQL_DURATION = Histogram(
    "logistics_graphql_operation_duration_seconds",
    "Time a GraphQL operation took to run (a subscription: until it joined its stream), by type",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MAX_OPERATION_NAMES: Final = 300
_OPERATION_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_operation_labels: dict[str, str] = {}

# -- real time --------------------------------------------------------------------------

WS_CONNECTIONS = Gauge(
    "logistics_ws_connections",
    "Authenticated graphql-transport-ws connections open",
    multiprocess_mode="livesum",
)
LIVE_SUBSCRIPTIONS = Gauge(
    "logistics_live_subscriptions",
    "Subscribers of live streams (websocket operations and HTTP subscriptions)",
    multiprocess_mode="livesum",
)
PUBSUB_LAG = Histogram(
    "logistics_pubsub_delivery_lag_seconds",
    "Time from an event's publication to its receipt by a process with subscribers, by channel kind",
    ["channel"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# The channels' prefixes (``logistics.pubsub``, ``dispatch.follow``); anything else is "other".
_CHANNEL_KINDS: Final = frozenset({"job", "loc", "msg", "issue", "offers", "feed", "dispatch.drivers"})

# -- dispatch ---------------------------------------------------------------------------

DISPATCH_OFFERS = Counter(
    "logistics_dispatch_offers",
    "Dispatch offers made (offered) and closed (accepted, rejected, expired, withdrawn), once committed",
    ["outcome"],
)
OFFER_OUTCOMES: Final = ("offered", "accepted", "rejected", "expired", "withdrawn")
TIME_TO_ASSIGN = Histogram(
    "logistics_dispatch_time_to_assign_seconds",
    "Time from a job's entering searching to a driver's accepting it",
    buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600),
)

# -- webhooks (updated by logistics.webhooks) -------------------------------------------

WEBHOOK_BACKLOG = Gauge(
    "logistics_webhook_backlog",
    "Webhook deliveries waiting to be sent, as the delivery worker last counted them",
    # One number of the shared database, counted by whichever worker looked last.
    multiprocess_mode="mostrecent",
)
WEBHOOK_ATTEMPTS = Counter(
    "logistics_webhook_attempts",
    "Webhook delivery attempts, by outcome (delivered, failed: a non-2xx answer, error: no answer)",
    ["outcome"],
)
WEBHOOK_DISABLED = Counter(
    "logistics_webhook_endpoints_disabled",
    "Webhook endpoints disabled after too many failures in a row",
)

# -- database ---------------------------------------------------------------------------

DB_CHECKED_OUT = Gauge(
    "logistics_db_connections_checked_out",
    "Database connections in use, by pool (main: PostgreSQL; write, read: SQLite)",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_CAPACITY = Gauge(
    "logistics_db_pool_capacity",
    "Connections a pool may open (pool size plus overflow), by pool",
    ["pool"],
    multiprocess_mode="livesum",
)

# -- presence pings ---------------------------------------------------------------------

LOCATION_PINGS = Counter(
    "logistics_location_pings",
    "Presence pings accepted, by path (buffered: written in the next batch; transaction: at once)",
    ["path"],
)
LOCATION_COALESCED = Counter(
    "logistics_location_pings_coalesced",
    "Buffered pings never written: superseded by a newer one before the flush, or outdated "
    "(older than a position already known, or their driver no longer approved)",
    ["reason"],
)
LOCATION_ROWS_WRITTEN = Counter(
    "logistics_location_rows_written",
    "Driver rows moved by the batched flush of buffered pings",
)
LOCATION_FLUSH = Histogram(
    "logistics_location_flush_seconds",
    "Time one flush of the ping buffer took",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

# -- processes --------------------------------------------------------------------------

PROCESS_UP = Gauge(
    "logistics_process_up",
    "1 for each serving process (a series a worker, labelled by pid, in multiprocess mode)",
    multiprocess_mode="liveall",
)
PROCESS_UP.set(1)

# Label children bound once: ``labels()`` takes a lock and validates on every call, and these
# are updated on every ping and every offer.
PINGS_BUFFERED = LOCATION_PINGS.labels("buffered")
PINGS_TRANSACTION = LOCATION_PINGS.labels("transaction")
PINGS_SUPERSEDED = LOCATION_COALESCED.labels("superseded")
PINGS_OUTDATED = LOCATION_COALESCED.labels("outdated")
OFFERS = {outcome: DISPATCH_OFFERS.labels(outcome) for outcome in OFFER_OUTCOMES}
for _outcome in ("delivered", "failed", "error"):
    WEBHOOK_ATTEMPTS.labels(_outcome)


def operation_label(name: str | None) -> str:
    """A GraphQL operation's name as a label: ``anonymous``, the name, or ``other`` once this
    process has seen ``MAX_OPERATION_NAMES`` names (clients choose them)."""
    if not name:
        return "anonymous"
    label = _operation_labels.get(name)
    if label is None:
        known = len(_operation_labels) < MAX_OPERATION_NAMES and _OPERATION_NAME.fullmatch(name)
        label = name if known else "other"
        if known:
            _operation_labels[name] = label
    return label


def channel_kind(channel: str) -> str:
    """A channel's kind (``job`` for ``job:<id>``): one series per kind, never per job."""
    prefix = channel.partition(":")[0]
    return prefix if prefix in _CHANNEL_KINDS else "other"
