"""The GraphQL edge's transaction, error rendering and complexity limits."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
)
from pydantic import ValidationError
from strawberry.extensions import AddValidationRules, SchemaExtension
from strawberry.types.graphql import OperationType
from strawberry.utils.str_converters import to_camel_case

from logistics.db import database_unavailable
from logistics.errors import DomainError, ErrorCode, pydantic_fields

log = logging.getLogger("logistics")
TOO_COMPLEX = ErrorCode.QUERY_TOO_COMPLEX.value


class UnitOfWorkExtension(SchemaExtension):
    """One transaction per operation: committed if no field failed, else rolled back."""

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        yield
        if context is None or not hasattr(context, "finish"):
            return
        result = self.execution_context.result
        failed = bool(getattr(result, "errors", None))
        await context.finish(commit=not failed)

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if context is not None and hasattr(context, "write"):
            # Known only once the document is parsed: queries read, mutations write.
            context.write = self.execution_context.operation_type is OperationType.MUTATION
        yield


def _coded(
    error: GraphQLError, code: str, message: str, details: dict[str, Any] | None = None
) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code}
    if details:
        extensions["details"] = details
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def render_error(error: GraphQLError) -> GraphQLError:
    """Give every error an ``extensions.code``; mask anything unexpected."""
    original = error.original_error
    if isinstance(original, DomainError):
        details = original.details
        if isinstance(details.get("fields"), dict):
            details = {**details, "fields": _graphql_names(details["fields"])}
        return _coded(error, original.code.value, original.message, details)
    if isinstance(original, ValidationError):
        return _coded(
            error,
            "VALIDATION_FAILED",
            "the input is not valid",
            {"fields": _graphql_names(pydantic_fields(original.errors()))},
        )
    if original is None:
        code = (error.extensions or {}).get("code")
        if (
            code == TOO_COMPLEX
            or ("tokens" in error.message and "Parsing aborted" in error.message)
            or error.message == "Maximum introspection depth exceeded"  # graphql-core's own limit
        ):
            return _coded(error, TOO_COMPLEX, error.message)
        # Parse and validation errors of the document itself: safe and useful to show.
        return _coded(error, "VALIDATION_FAILED", error.message)
    if isinstance(original, GraphQLError) and error.path is None:
        # Variables that do not fit their types (missing, wrong type, unknown enum value),
        # found before anything runs: the client's mistake, described by graphql-core.
        return _coded(error, "VALIDATION_FAILED", error.message, _variable_fields(error.message))
    if original is not None and database_unavailable(original):
        log.warning("database unavailable", exc_info=original)
        return _coded(error, "UNAVAILABLE", "the service is busy; try again shortly")
    log.error("unexpected error in GraphQL resolver", exc_info=original)
    return _coded(error, "INTERNAL", "an unexpected error occurred")


def _graphql_names(fields: dict[str, Any]) -> dict[str, Any]:
    """Field paths as a GraphQL client spells them: ``licence.expiresOn``, ``items.0.weightKg``."""
    return {".".join(to_camel_case(part) for part in name.split(".")): why for name, why in fields.items()}


_BAD_VARIABLE = re.compile(
    r"^Variable '\$(?P<name>\w+)' has invalid value(?: at (?P<path>[^:]*))?: (?P<reason>.*)$", re.S
)


def _variable_fields(message: str) -> dict[str, Any] | None:
    """``details.fields`` for a bad variable: ``input.items.0.size`` -> graphql-core's reason."""
    match = _BAD_VARIABLE.match(message)
    if match is None:
        return None
    path = (match["path"] or "").replace("[", ".").replace("]", "")
    return {"fields": {match["name"] + path: match["reason"]}}


parse_once = functools.lru_cache(maxsize=512)(parse)


class ParseOnce(SchemaExtension):
    """An app sends the same few documents again and again (every tracking poll, every
    subscriber): each is parsed once, with the options MaxTokensLimiter sets. A document that
    does not parse is left to strawberry's own parse, which answers it as a GraphQL error
    (strawberry's ParserCache raises from its hook, where the error loses its code)."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            with suppress(GraphQLError):
                context.graphql_document = parse_once(context.query, **context.parse_options)
        yield


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Any:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [render_error(error) for error in errors]


# ``ofType`` wraps a type at most a few times (list of non-null of ...); GraphiQL's
# introspection query nests it 9 deep. A longer chain can only be an attempt to dodge the
# depth limit, which does not count ``ofType``.
MAX_OF_TYPE_CHAIN = 10


@dataclass(frozen=True)
class Measure:
    """What a selection set costs once its fragments are expanded."""

    depth: int = 0
    aliases: int = 0
    fields: int = 0
    # The longest run of nested ``ofType`` fields anywhere, and the one starting at the top.
    of_type_run: int = 0
    of_type_top: int = 0


def complexity_rule(max_depth: int, max_aliases: int, max_fields: int) -> type[ValidationRule]:
    """Depth, alias and field limits over the whole document, introspection included, with
    every fragment spread counted as expanded. Each fragment is measured once, so a small
    document that expands to millions of fields is refused in linear time."""

    class ComplexityRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
            }
            memo: dict[str, Measure] = {}
            for definition in document.definitions:
                if not isinstance(definition, OperationDefinitionNode):
                    continue
                measure = _measure(definition.selection_set, fragments, memo, set())
                excesses: list[str] = []
                if measure.depth > max_depth:
                    excesses.append(
                        f"the query is {measure.depth} levels deep; at most {max_depth} are allowed"
                    )
                if measure.aliases > max_aliases:
                    excesses.append(
                        f"the query uses {measure.aliases} aliases; at most {max_aliases} are allowed"
                    )
                if measure.fields > max_fields:
                    count = f"{measure.fields}" if measure.fields < _CAP else f"more than {_CAP}"
                    excesses.append(
                        f"the query selects {count} fields once its fragments are expanded;"
                        f" at most {max_fields} are allowed"
                    )
                if measure.of_type_run > MAX_OF_TYPE_CHAIN:
                    excesses.append(
                        f"ofType is nested {measure.of_type_run} deep; at most {MAX_OF_TYPE_CHAIN}"
                    )
                for message in excesses:
                    context.report_error(GraphQLError(message, definition, extensions={"code": TOO_COMPLEX}))

    return ComplexityRule


# Counts are capped here: past any limit the exact figure does not matter, and a document
# that doubles at each of a thousand fragments must not build a number of a thousand digits.
_CAP = 10**9


def _measure(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    memo: dict[str, Measure],
    expanding: set[str],
) -> Measure:
    if selection_set is None:
        return Measure()
    depth = aliases = fields = run = top = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            sub = _measure(selection.selection_set, fragments, memo, expanding)
            of_type = selection.name.value == "ofType"
            # A leaf adds no depth, and neither does ``ofType`` (see MAX_OF_TYPE_CHAIN).
            adds = 1 if selection.selection_set and not of_type else 0
            depth = max(depth, adds + sub.depth)
            aliases += sub.aliases + (1 if selection.alias else 0)
            fields += 1 + sub.fields
            chain = 1 + sub.of_type_top if of_type else 0
            top = max(top, chain)
            run = max(run, sub.of_type_run, chain)
            continue
        if isinstance(selection, InlineFragmentNode):
            sub = _measure(selection.selection_set, fragments, memo, expanding)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in expanding:
                continue  # unknown or cyclic fragments are reported by the standard rules
            if name not in memo:
                expanding.add(name)
                memo[name] = _measure(fragment.selection_set, fragments, memo, expanding)
                expanding.discard(name)
            sub = memo[name]
        else:
            continue
        depth = max(depth, sub.depth)
        aliases += sub.aliases
        fields += sub.fields
        top, run = max(top, sub.of_type_top), max(run, sub.of_type_run)
    return Measure(depth, min(aliases, _CAP), min(fields, _CAP), run, top)


def complexity_extensions(max_depth: int, max_aliases: int, max_fields: int) -> list[Any]:
    rule = complexity_rule(max_depth, max_aliases, max_fields)
    return [lambda: AddValidationRules([rule])]
