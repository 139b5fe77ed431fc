"""GraphQL operations counted by name, type and outcome, over HTTP and the websocket alike."""

from __future__ import annotations

import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from logistics.observability.metrics import GRAPHQL_DURATION, GRAPHQL_OPERATIONS, operation_label


class OperationMetrics(SchemaExtension):
    """First among the schema's extensions, so that it closes last: it sees the final result,
    errors rendered and the unit of work finished."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            context = self.execution_context
            try:
                kind = context.operation_type.value
            except RuntimeError:  # a document that did not parse, or names no operation in it
                kind = "unknown"
            failed = bool(getattr(context.result, "errors", None) or context.pre_execution_errors)
            name = operation_label(context.operation_name)
            GRAPHQL_OPERATIONS.labels(name, kind, "true" if failed else "false").inc()
            GRAPHQL_DURATION.labels(kind).observe(time.perf_counter() - started)
