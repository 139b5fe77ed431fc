"""Distances, service areas, H3 cells and the one ETA function."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import h3

from logistics.config import Region, VehicleType

EARTH_RADIUS_M = 6_371_008.8
H3_RESOLUTION = 9


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    return haversine_from(p1, math.cos(p1), lng1, p2, math.cos(p2), lng2)


def haversine_from(p1: float, cos_p1: float, lng1: float, p2: float, cos_p2: float, lng2: float) -> float:
    """:func:`haversine_m` from latitudes in radians and their cosines, which a search that
    measures one point against many computes once per point (the same result, bit for bit)."""
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + cos_p1 * cos_p2 * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) enclosing a circle: an index-friendly prefilter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    cos_lat = max(math.cos(math.radians(lat)), 1e-6)
    dlng = min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * cos_lat)))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


def cell_of(lat: float, lng: float) -> str:
    return str(h3.latlng_to_cell(lat, lng, H3_RESOLUTION))


def point_in_polygon(lat: float, lng: float, ring: list[tuple[float, float]]) -> bool:
    """Ray casting over a GeoJSON ring of (lng, lat); fine for city-sized polygons."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat):
            x_cross = (xj - xi) * (lat - yi) / (yj - yi) + xi
            if lng < x_cross:
                inside = not inside
        j = i
    return inside


def in_region(region: Region, lat: float, lng: float) -> bool:
    boundary, *holes = region.service_area
    if not point_in_polygon(lat, lng, boundary):
        return False
    return not any(point_in_polygon(lat, lng, hole) for hole in holes)


def road_distance_m(region: Region, lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    # Streets are not straight lines: the great circle times the region's circuity factor.
    return haversine_m(lat1, lng1, lat2, lng2) * region.circuity_factor


def travel_seconds(region: Region, vehicle_type: VehicleType | str, distance_m: float) -> int:
    speed_kmh = region.vehicles[VehicleType(vehicle_type)].avg_speed_kmh
    return round(distance_m / (speed_kmh * 1000 / 3600))


def estimate_eta(
    region: Region,
    vehicle_type: VehicleType | str,
    *,
    now: datetime,
    pickup: tuple[float, float],
    dropoff: tuple[float, float],
    driver: tuple[float, float] | None,
    picked_up: bool,
) -> tuple[datetime | None, datetime, int]:
    """(pickup_at, dropoff_at, seconds to dropoff) for the legs that remain.

    Before pickup with a driver: driver -> pickup -> dropoff. After pickup: driver -> dropoff
    (or pickup -> dropoff while the driver's position is unknown). No driver yet: the trip
    alone, from now, and no pickup time. A routing engine can replace this function whole.
    """
    trip = travel_seconds(region, vehicle_type, road_distance_m(region, *pickup, *dropoff))
    if picked_up:
        origin = driver or pickup
        seconds = travel_seconds(region, vehicle_type, road_distance_m(region, *origin, *dropoff))
        return None, now + timedelta(seconds=seconds), seconds
    if driver is None:
        return None, now + timedelta(seconds=trip), trip
    to_pickup = travel_seconds(region, vehicle_type, road_distance_m(region, *driver, *pickup))
    seconds = to_pickup + trip
    return now + timedelta(seconds=to_pickup), now + timedelta(seconds=seconds), seconds
