"""The base of the API's enumerations, at the bottom with the settings and the error codes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, cast

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema


class ApiEnum(StrEnum):
    """An enumeration the API sends and receives as its members' values, strings.

    Request shapes validate strictly (no ``"yes"`` for a bool), and pydantic's strict mode,
    given the Python objects that FastAPI parsed from JSON, would accept only enum members,
    never the strings a client sends. Like a time, an enum can only come as text, so it
    stays lax: a member (from GraphQL) or its value (from JSON)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return cast(CoreSchema, {**handler(source), "strict": False})
