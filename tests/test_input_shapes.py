"""The request shapes, as a whole: every body and GraphQL input is an ``InputShape``, and every
text field in one refuses what no database stores (as the database does, for the rest)."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from logistics import rest_compat
from logistics.errors import DomainError, ErrorCode
from logistics.platform import Platform
from logistics.schema import inputs
from logistics.shapes.common import InputShape

UNSTORABLE = ["line\x00two", "\ud800", "a\udfffb"]


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """The pydantic models an annotation names, however wrapped (``X | None``, ``list[X]``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        for field in annotation.model_fields.values():
            yield from _models_in(field.annotation)
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _names_str(annotation: Any) -> bool:
    return annotation is str or any(_names_str(argument) for argument in typing.get_args(annotation))


def _input_shapes() -> list[type[InputShape]]:
    found: list[type[InputShape]] = []
    pending = list(InputShape.__subclasses__())
    while pending:
        shape = pending.pop()
        found.append(shape)
        pending.extend(shape.__subclasses__())
    return sorted(set(found), key=lambda shape: shape.__name__)


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


TEXT_FIELDS = [
    (shape, name, field.annotation)
    for shape in _input_shapes()
    for name, field in shape.model_fields.items()
    if _names_str(field.annotation)
]


@pytest.mark.parametrize(
    ("shape", "name", "annotation"),
    TEXT_FIELDS,
    ids=[f"{shape.__name__}.{name}" for shape, name, _ in TEXT_FIELDS],
)
def test_every_text_field_refuses_nul_and_lone_surrogates(
    shape: type[InputShape], name: str, annotation: Any
) -> None:
    for bad in UNSTORABLE:
        value: Any = [bad] if typing.get_origin(annotation) is list else bad

        with pytest.raises(ValidationError) as refused:
            shape.model_validate({name: value})

        assert (name,) in [error["loc"][:1] for error in refused.value.errors()], (bad, refused.value)


def test_there_are_text_fields_to_check() -> None:
    names = {f"{shape.__name__}.{name}" for shape, name, _ in TEXT_FIELDS}
    assert {"Address.line1", "Contact.name", "Item.description", "IssueIn.image_ids"} <= names


async def test_the_database_refuses_unstorable_text_whatever_carries_it(platform: Platform) -> None:
    # The backstop for text that reaches a query without a shape (a path id, a GraphQL ID).
    for bad in UNSTORABLE:
        async with platform.db.session(write=False) as session:
            with pytest.raises(DomainError) as refused:
                await session.execute(text("SELECT :value"), {"value": bad})

        assert refused.value.code is ErrorCode.VALIDATION_FAILED
