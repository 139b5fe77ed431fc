"""Settings from the environment (``LOGISTICS_`` prefix) and the region tables.

A region is the unit of pricing and policy: its currency, service area, prices per vehicle
type, cancellation fee and proof-of-delivery rule. The built-in default is Berlin; more
regions come from a JSON file (``LOGISTICS_REGIONS_FILE``) holding a list of regions.
"""

from __future__ import annotations

import json
from enum import auto
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from logistics.enums import ApiEnum

# Published so that a development token can be minted without configuration; refused in
# production, where a leaked well-known secret would let anyone sign tokens.
DEV_JWT_SECRET = "logistics-development-secret-do-not-use-in-production"  # noqa: S105
# The payments sandbox signs its webhooks with this unless told otherwise; it only ever signs
# events the process sends to itself, and the sandbox is refused in production.
DEV_SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_development_secret"  # noqa: S105


class VehicleType(ApiEnum):
    BICYCLE, MOTORBIKE, CAR, VAN = auto(), auto(), auto(), auto()


class ItemSize(ApiEnum):
    SMALL, MEDIUM, LARGE, XLARGE = auto(), auto(), auto(), auto()


SIZE_RANK = {ItemSize.SMALL: 0, ItemSize.MEDIUM: 1, ItemSize.LARGE: 2, ItemSize.XLARGE: 3}
VEHICLE_RANK = {
    VehicleType.BICYCLE: 0,
    VehicleType.MOTORBIKE: 1,
    VehicleType.CAR: 2,
    VehicleType.VAN: 3,
}


class VehiclePricing(BaseModel):
    """What a vehicle can carry and what a trip in it costs, in the region's minor units."""

    max_weight_kg: float
    max_size: ItemSize
    base_fare: int
    per_km: int
    per_minute: int
    minimum_fare: int
    avg_speed_kmh: float


class Region(BaseModel):
    id: str
    name: str
    country: str = Field(min_length=2, max_length=2)
    currency: str = Field(min_length=3, max_length=3)
    timezone: str
    distance_unit: Literal["km", "mi"] = "km"
    # GeoJSON Polygon coordinates: a list of rings of [lng, lat]; the first ring is the boundary.
    service_area: list[list[tuple[float, float]]]
    postcode_pattern: str
    proof_of_delivery: Literal["photo", "none"] = "photo"
    vehicles: dict[VehicleType, VehiclePricing]
    size_surcharge: dict[ItemSize, int] = Field(default_factory=dict)
    service_fee: int = 0
    # Basis points (1/100 of a percent) of the price before the service fee.
    driver_share_bps: int = Field(default=8000, ge=0, le=10000)
    cancellation_fee: int = 0
    cancellation_driver_share_bps: int = Field(default=5000, ge=0, le=10000)
    circuity_factor: float = 1.3
    quote_ttl_s: int = 900
    support_phone: str = ""

    @model_validator(mode="after")
    def _check(self) -> Region:
        ring = self.service_area[0] if self.service_area else []
        if len(ring) < 4 or ring[0] != ring[-1]:
            raise ValueError("service_area must be a closed GeoJSON ring of at least 4 points")
        return self


def _load_builtin_regions() -> list[Region]:
    text = resources.files("logistics.regions").joinpath("berlin.json").read_text()
    return [Region.model_validate(json.loads(text))]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOGISTICS_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    database_url: str = "sqlite+aiosqlite:///./logistics.db"
    database_pool_size: int = 10
    broadcast_url: str = "memory://"

    jwt_secret: str = DEV_JWT_SECRET
    # NoDecode: the environment may say ``RS256,ES256`` as well as JSON; the validator parses both.
    jwt_algorithms: Annotated[list[str], NoDecode] = ["HS256"]
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwt_leeway_s: int = 30

    storage_dir: Path = Path("./storage")
    max_upload_mb: int = 10
    max_json_body_kb: int = 1024
    # Unset: drivers are approved at registration in development (a newcomer can walk a job
    # without an ops token) and wait for ops everywhere else; set true, refused in production.
    driver_auto_approve: bool | None = None
    offer_ttl_s: int = 30
    dispatch_max_offers: int = 5
    dispatch_max_radius_m: int = 10_000
    dispatch_retry_s: int = 30
    dispatch_interval_s: float = 1.0
    dispatch_loop: bool = True
    # greedy: each job is offered to its nearest free driver as soon as it is searching.
    # batch: every window, one min-cost matching of all waiting jobs to the free drivers.
    dispatch_mode: Literal["greedy", "batch"] = "batch"
    dispatch_window_s: float = Field(default=2.0, gt=0, le=60)
    # Metres of pickup a second of waiting is worth in a window's matching: ten minutes outweigh
    # any pickup within the default radius, so no job starves (see dispatch.matching.solve).
    dispatch_waiting_weight: float = Field(default=16.7, ge=0)
    location_stale_after_s: int = 120
    # The public tracking page: the address links are built on, how long a delivered job's
    # link still answers, and the map's tiles ("" draws the map without any).
    public_url: str = "http://127.0.0.1:8000"
    tracking_link_ttl_s: int = Field(default=24 * 3600, ge=0)
    tracking_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tracking_tile_attribution: str = "© OpenStreetMap contributors"
    # Pings of known, fresh drivers are written in one batch this often; 0 writes each ping
    # in its own transaction. A kill -9 may lose this much of the newest positions.
    location_flush_s: float = Field(default=0.5, ge=0, le=5)
    regions_file: Path | None = None
    rate_limit_per_min: int = 0
    public_base_url: str = ""

    ws_max_connections_per_user: int = 5
    ws_max_subscriptions_per_connection: int = 20
    subscriber_buffer: int = 100
    # Frames a websocket may have waiting (positions keep only their newest and do not count);
    # one more closes it with 4008 and the client reconnects.
    ws_outbox_limit: int = Field(default=256, ge=1)
    # On SIGTERM (``logistics serve``): how long requests in flight may take to finish before
    # they are cancelled and the process stops.
    shutdown_grace_s: int = Field(default=20, ge=0)

    # OpenTelemetry traces (the ``tracing`` extra): to an OTLP/HTTP collector, configured by the
    # standard OTEL_EXPORTER_OTLP_* variables, or printed on stdout.
    tracing: Literal["off", "otlp", "console"] = "off"
    tracing_service_name: str = "logistics"

    graphql_max_depth: int = 12
    graphql_max_aliases: int = 30
    graphql_max_tokens: int = 2000
    # Fields selected once fragments are expanded: what bounds the work of one query.
    graphql_max_fields: int = 2000

    # Logs (``logistics serve``): readable text, or one JSON object a line for a collector.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics needs ``Authorization: Bearer <token>`` when set; unset, it is open except in
    # production, where it is not served at all.
    metrics_token: str | None = None
    # Where the workers of ``serve --workers N`` keep their metrics files (emptied at start);
    # unset, a temporary directory.
    metrics_dir: Path | None = None

    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Where the Stripe SDK sends requests; tests point it at a local fake server.
    stripe_api_base: str | None = None
    paypal_client_id: str | None = None
    paypal_client_secret: str | None = None
    paypal_environment: Literal["sandbox", "live"] = "sandbox"
    paypal_webhook_id: str | None = None
    # Where the PayPal SDK sends requests instead of the environment's; tests use a fake.
    paypal_base_url: str | None = None
    # A stand-in for Stripe that takes test card numbers and never leaves the process, so that
    # card orders, tips, refunds and payouts can be tried without provider accounts.
    payments_sandbox: bool = False
    payments_sandbox_webhook_secret: str = DEV_SANDBOX_WEBHOOK_SECRET
    # Unset: ``manual``, or ``sandbox`` while the payments sandbox is on (see payout_provider_name).
    payout_provider: Literal["manual", "stripe", "sandbox"] | None = None
    # Key for payout details at rest (Fernet, urlsafe base64 of 32 bytes). Derived from the
    # JWT secret in development; required in production.
    encryption_key: str | None = None
    # Outbound webhooks (README, "Webhooks"). Each process runs a delivery worker unless off.
    webhook_worker: bool = True
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=60)
    # Retries: base * 2^(n-1), capped, times a random 0.5-1 (jitter), until the horizon.
    webhook_retry_base_s: float = Field(default=10.0, gt=0)
    webhook_retry_max_s: float = Field(default=3600.0, gt=0)
    webhook_retry_horizon_s: float = Field(default=24 * 3600.0, gt=0)
    # Failed attempts in a row (across its events) after which an endpoint is disabled.
    webhook_disable_after: int = Field(default=50, ge=1)
    # How long a claimed delivery is a worker's own; past it another worker retries it, so it
    # must exceed the timeout.
    webhook_lease_s: float = Field(default=60.0, gt=0)
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=16, ge=1, le=256)
    # job.eta_changed: checked every ETA_CHECK_S, sent when the dropoff ETA moved more than this.
    webhook_eta_change_s: int = Field(default=300, ge=30)
    webhook_eta_check_s: float = Field(default=30.0, gt=0)
    # After a rotation, the old secret keeps signing beside the new one for this long.
    webhook_secret_overlap_s: int = Field(default=24 * 3600, ge=0)
    # Unset: endpoints on private or loopback addresses are refused in production only.
    webhook_allow_private: bool | None = None

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _no_none_algorithm(cls, value: list[str]) -> list[str]:
        allowed = {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"}
        bad = [alg for alg in value if alg not in allowed]
        if bad or not value:
            raise ValueError(f"unsupported JWT algorithms: {bad or value}")
        return value

    def check_production(self) -> None:
        """Refuse to start a production deployment on the published development secret or
        with the payments sandbox."""
        if self.env != "production":
            return
        uses_hmac = any(alg.startswith("HS") for alg in self.jwt_algorithms)
        if uses_hmac and (self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32):
            raise RuntimeError(
                "LOGISTICS_JWT_SECRET must be set to a secret of at least 32 characters "
                "in production; the development secret is refused"
            )
        if not self.encryption_key:
            raise RuntimeError("LOGISTICS_ENCRYPTION_KEY (a Fernet key) must be set in production")
        if self.driver_auto_approve:
            raise RuntimeError(
                "LOGISTICS_DRIVER_AUTO_APPROVE is for development only: in production ops review "
                "drivers (the approveDriver mutation)"
            )
        # The sandbox answers "paid" for a test card number: in production that is free deliveries.
        if self.payments_sandbox or self.payout_provider == "sandbox":
            raise RuntimeError(
                "the payments sandbox is for development only: unset LOGISTICS_PAYMENTS_SANDBOX "
                "(and a LOGISTICS_PAYOUT_PROVIDER of sandbox) in production"
            )

    @property
    def webhooks_reach_private_networks(self) -> bool:
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return self.env != "production"

    @property
    def approves_drivers_at_once(self) -> bool:
        if self.driver_auto_approve is not None:
            return self.driver_auto_approve
        return self.env == "development"

    @property
    def payout_provider_name(self) -> Literal["manual", "stripe", "sandbox"]:
        """The payout provider in use: the one set, else the sandbox's while it is on, else manual."""
        if self.payout_provider is not None:
            return self.payout_provider
        return "sandbox" if self.payments_sandbox else "manual"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def regions(self) -> list[Region]:
        regions = _load_builtin_regions()
        if self.regions_file is not None:
            data = json.loads(Path(self.regions_file).read_text())
            loaded = [Region.model_validate(item) for item in data]
            # Regions from the file come first: the first region is the default.
            known = {region.id for region in loaded}
            regions = loaded + [region for region in regions if region.id not in known]
        return regions

    @property
    def default_region(self) -> Region:
        return self.regions[0]

    def region(self, region_id: str) -> Region:
        for region in self.regions:
            if region.id == region_id:
                return region
        return self.default_region


def local_url(host: str, port: int) -> str:
    """Where a server listening on ``host:port`` answers from this machine."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a comparison, not a bind)
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
