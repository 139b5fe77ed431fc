"""How the server logs: readable text (the default) or one JSON object a line
(``LOGISTICS_LOG_FORMAT=json``), at ``LOGISTICS_LOG_LEVEL``.

:func:`log_config` is the ``logging.config.dictConfig`` that ``logistics serve`` hands uvicorn,
which applies it in every worker. One handler on the root logger writes everything (the app's
loggers, uvicorn's start-up and errors, libraries' warnings) in the chosen format, and each
record logged while a request is served carries that request's id. uvicorn's own access log
is switched off by ``serve``: the request middleware logs one line per request instead
(``logistics.access``, :mod:`logistics.observability.requests`).

A JSON line::

    {"ts": "2025-05-02T09:14:03.127+00:00", "level": "INFO", "logger": "logistics.access",
     "message": "GET /client/logistics/orders/{order_id}/track 200 3.1 ms user=cust-1",
     "request_id": "5b1f0c3e9a2d4f7c8e6b1a0d2c3e4f5a", "method": "GET",
     "route": "/client/logistics/orders/{order_id}/track", "status": 200, "duration_ms": 3.12,
     "user_id": "cust-1"}

(one line in the output; wrapped here).
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

from logistics.config import Settings
from logistics.observability.context import current_request_id

# uvicorn adds a copy of its message with terminal colours to its records.
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message"]


class RequestContext(logging.Filter):
    """Gives each record logged while a request is served that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request_id = current_request_id()
            if request_id is not None:
                record.request_id = request_id
        return True


class JsonFormatter(OrjsonFormatter):
    """``ts``, ``level``, ``logger``, ``message``, then whatever the record carries (the request
    id, the request line's fields, ``exc_info``), encoded by orjson."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=_NOT_FIELDS,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # First, so that every line starts with its time.
        log_data["ts"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    """``2025-05-02 09:14:03,127 INFO logistics.access [<request id>]: <message>``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


def log_config(settings: Settings, *, access_log: bool = True) -> dict[str, Any]:
    """The logging configuration of a server process. ``access_log`` off keeps the per-request
    lines out (errors are still logged)."""
    level = settings.log_level
    formatter = JsonFormatter if settings.log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": f"{__name__}.{RequestContext.__name__}"}},
        "formatters": {"default": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            # uvicorn's loggers get handlers of their own from its default configuration;
            # here they only propagate to the one handler.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "logistics": {"level": level},
            "logistics.access": {"level": level if access_log else "WARNING"},
        },
        # DEBUG is for the service's own loggers: libraries' debug output is noise.
        "root": {"handlers": ["default"], "level": "INFO" if level == "DEBUG" else level},
    }


def configure(settings: Settings, *, access_log: bool = True) -> None:
    logging.config.dictConfig(log_config(settings, access_log=access_log))
