"""The request shapes, as a whole: every body and GraphQL input is an ``InputShape``."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel

from logistics import rest_compat
from logistics.schema import inputs
from logistics.shapes.common import InputShape


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, however wrapped (``X | None``, ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _rest_routes() -> Iterator[APIRoute]:
    for module in pkgutil.iter_modules(rest_compat.__path__):
        router = getattr(importlib.import_module(f"{rest_compat.__name__}.{module.name}"), "router", None)
        for route in router.routes if router is not None else ():
            if isinstance(route, APIRoute):
                yield route


def test_every_request_body_and_graphql_input_is_an_input_shape() -> None:
    bodies = [
        param.field_info.annotation for route in _rest_routes() for param in route.dependant.body_params
    ]
    graphql = [value._pydantic_type for value in vars(inputs).values() if hasattr(value, "_pydantic_type")]

    models = {model for annotation in bodies + graphql for model in _models_in(annotation)}

    assert len(bodies) > 20 and len(graphql) > 20
    lax = sorted(model.__name__ for model in models if not issubclass(model, InputShape))
    assert lax == []
