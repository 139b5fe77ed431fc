"""The simulated city: where drivers and orders appear, how a driver moves, and the plausible
names, addresses and parcels the requests carry. Every draw takes a ``random.Random`` so that a
run under ``--seed`` makes the same choices."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Any

from logistics.config import Region
from logistics.geo import EARTH_RADIUS_M, haversine_m, in_region


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float

    def json(self) -> dict[str, float]:
        # Six decimals are about 10 cm: finer digits are noise in a request body.
        return {"lat": round(self.lat, 6), "lng": round(self.lng, 6)}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Point:
        return cls(float(data["lat"]), float(data["lng"]))


def distance_m(a: Point, b: Point) -> float:
    return haversine_m(a.lat, a.lng, b.lat, b.lng)


def heading_deg(a: Point, b: Point) -> float:
    """The initial bearing from ``a`` to ``b``, clockwise from north, in [0, 360)."""
    p1, p2, dl = math.radians(a.lat), math.radians(b.lat), math.radians(b.lng - a.lng)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360


def destination(start: Point, bearing_deg: float, metres: float) -> Point:
    """The point ``metres`` away from ``start`` along a great circle."""
    d, theta = metres / EARTH_RADIUS_M, math.radians(bearing_deg)
    p1, l1 = math.radians(start.lat), math.radians(start.lng)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(theta))
    l2 = l1 + math.atan2(
        math.sin(theta) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2)
    )
    return Point(math.degrees(p2), math.degrees(l2))


def towards(start: Point, end: Point, metres: float) -> Point:
    """``metres`` along the straight line from ``start`` to ``end``, stopping at ``end``. Linear
    in degrees: over a city's few kilometres that is the straight line to within centimetres."""
    total = distance_m(start, end)
    if total - metres <= 0.01:  # within a centimetre: arrived (rounding would leave a sliver)
        return end
    f = metres / total
    return Point(start.lat + (end.lat - start.lat) * f, start.lng + (end.lng - start.lng) * f)


class Area:
    """A region's service area and the two ways points are drawn in it."""

    def __init__(self, region: Region) -> None:
        self.region = region
        ring = region.service_area[0]
        lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
        self.min_lat, self.max_lat, self.min_lng, self.max_lng = min(lats), max(lats), min(lngs), max(lngs)
        self.centre = _centroid(ring)

    def contains(self, p: Point) -> bool:
        return in_region(self.region, p.lat, p.lng)

    def anywhere(self, rng: random.Random) -> Point:
        """Uniform over the service area (rejection sampling in its bounding box)."""
        while True:
            p = Point(rng.uniform(self.min_lat, self.max_lat), rng.uniform(self.min_lng, self.max_lng))
            if self.contains(p):
                return p

    def around_centre(self, rng: random.Random, spread: float) -> Point:
        """Denser towards the middle, as a city's demand and its drivers are: a normal spread
        of ``spread`` times the area's extent around its centroid, kept inside the area."""
        for _ in range(200):
            p = Point(
                rng.gauss(self.centre.lat, spread * (self.max_lat - self.min_lat)),
                rng.gauss(self.centre.lng, spread * (self.max_lng - self.min_lng)),
            )
            if self.contains(p):
                return p
        return self.anywhere(rng)  # an odd-shaped area whose centroid lies outside it

    def trip(self, rng: random.Random, min_m: float = 1_000, max_m: float = 5_000) -> tuple[Point, Point]:
        """A pickup where orders are dense and a dropoff ``min_m`` to ``max_m`` away, both inside."""
        while True:
            pickup = self.around_centre(rng, 0.18)
            for _ in range(20):
                dropoff = destination(pickup, rng.uniform(0, 360), rng.uniform(min_m, max_m))
                if self.contains(dropoff):
                    return pickup, dropoff


def _centroid(ring: list[tuple[float, float]]) -> Point:
    """The area-weighted centroid of a closed ring of (lng, lat), planar (fine for a city)."""
    a = cx = cy = 0.0
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        cross = x1 * y2 - x2 * y1
        a += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    if a == 0:
        return Point(sum(p[1] for p in ring) / len(ring), sum(p[0] for p in ring) / len(ring))
    return Point(cy / (3 * a), cx / (3 * a))


# --- people, vehicles, addresses and parcels ---------------------------------------------------

FIRST_NAMES = [
    "Ada", "Ben", "Clara", "Deniz", "Elif", "Finn", "Greta", "Hannah", "Ilias", "Jonas", "Kaya",
    "Lena", "Malik", "Nora", "Oskar", "Paula", "Quentin", "Rosa", "Samir", "Tilda", "Umut", "Vera",
    "Wiebke", "Yusuf", "Zoe", "Mateo", "Aylin", "Leon", "Mia", "Emil",
]  # fmt: skip
LAST_NAMES = [
    "Schmidt", "Yilmaz", "Nowak", "Becker", "Hoffmann", "Kaya", "Richter", "Wagner", "Demir",
    "Fischer", "Kowalski", "Neumann", "Schulz", "Rossi", "Weber", "Lange", "Krause", "Öztürk",
]  # fmt: skip
STREETS = [
    "Torstraße", "Oranienstraße", "Kastanienallee", "Sonnenallee", "Karl-Marx-Allee", "Bergmannstraße",
    "Schönhauser Allee", "Kantstraße", "Danziger Straße", "Hermannstraße", "Müllerstraße",
    "Warschauer Straße", "Boxhagener Straße", "Friedrichstraße", "Wilmersdorfer Straße",
]  # fmt: skip
INSTRUCTIONS = [None, None, "Ring twice", "Side entrance", "Leave with the neighbour", "Call on arrival"]

# A fleet's mix, dealt in this order so that even a small fleet has a car among its first drivers.
FLEET_PATTERN = ["car", "bicycle", "motorbike", "car", "van", "bicycle", "motorbike", "car", "bicycle", "car"]
VEHICLES = {
    "bicycle": [("Riese & Müller", "Load 75"), ("Urban Arrow", "Cargo"), ("Bullitt", "Classic")],
    "motorbike": [("Honda", "PCX 125"), ("NIU", "NQi"), ("Vespa", "Primavera")],
    "car": [("VW", "Golf"), ("Renault", "Zoe"), ("Škoda", "Fabia"), ("Toyota", "Yaris")],
    "van": [("VW", "Caddy"), ("Mercedes-Benz", "Sprinter"), ("Ford", "Transit")],
}
COLOURS = ["white", "black", "silver", "blue", "red", "green"]

# (description, weight kg, size, relative frequency): mostly parcels a bicycle can carry, so
# that most orders fit most of the fleet, with the odd one that needs a car or a van.
PARCELS = [
    ("Documents", 0.5, "small", 14),
    ("Box of books", 4, "small", 12),
    ("Flowers", 1, "small", 10),
    ("Laptop", 3, "small", 10),
    ("Groceries", 8, "medium", 12),
    ("Birthday cake", 2, "medium", 8),
    ("Shoe boxes", 3, "medium", 8),
    ("Floor lamp", 12, "large", 4),
    ("Armchair", 30, "xlarge", 2),
]


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def phone(rng: random.Random, country: str) -> str:
    if country == "DE":
        return f"+49 30 {rng.randint(200, 999)} {rng.randint(1000, 9999)}"
    return f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def vehicle(rng: random.Random, index: int) -> dict[str, str]:
    kind = FLEET_PATTERN[index % len(FLEET_PATTERN)]
    make, model = rng.choice(VEHICLES[kind])
    plate = (
        f"B-{rng.choice('ABCDEFGHKLMNPRSTVWXZ')}{rng.choice('ABCDEFGHKLMNPRSTVWXZ')} {rng.randint(100, 9999)}"
    )
    return {"type": kind, "make": make, "model": model, "plate": plate, "color": rng.choice(COLOURS)}


def stop(rng: random.Random, region: Region, at: Point) -> dict[str, Any]:
    """A stop at ``at`` with a plausible address and contact; the plain quote checks only the
    point against the service area, so the street need not be the one at the coordinates."""
    postcode = str(rng.randint(10115, 14199)) if region.id == "berlin" else str(rng.randint(10000, 99999))
    body: dict[str, Any] = {
        "address": {
            "line1": f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
            "city": region.name,
            "postcode": postcode,
            "country": region.country,
        },
        "point": at.json(),
        "contact": {"name": person(rng), "phone": phone(rng, region.country)},
    }
    instructions = rng.choice(INSTRUCTIONS)
    if instructions:
        body["instructions"] = instructions
    return body


def items(rng: random.Random) -> list[dict[str, Any]]:
    description, weight, size, _ = rng.choices(PARCELS, weights=[p[3] for p in PARCELS])[0]
    quantity = 1 if size in ("large", "xlarge") else rng.choice([1, 1, 1, 2])
    return [{"description": description, "quantity": quantity, "weight_kg": weight, "size": size}]
