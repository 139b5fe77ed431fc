"""``logistics serve | migrate | token | demo``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import make_url

from logistics.config import Settings, local_url

ROOT = Path(__file__).resolve().parent


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def migrate(settings: Settings) -> None:
    """Bring the database schema to the latest revision."""
    from alembic import command

    command.upgrade(alembic_config(settings.database_url), "head")


def banner(settings: Settings, host: str, port: int) -> str:
    """Where everything is, printed at start."""
    base = local_url(host, port)
    database = make_url(settings.database_url)
    where = (
        f"{Path(database.database or '').resolve()} (SQLite)"
        if database.get_backend_name() == "sqlite"
        else database.render_as_string(hide_password=True)
    )
    lines = [
        f"Logistics ({settings.env}) on {base}",
        f"  start page   {base}/",
        f"  GraphiQL     {base}/graphql",
        f"  Swagger UI   {base}/docs",
        f"  ReDoc        {base}/redoc",
        f"  ops map      {base}/ops",
        f"  REST         {base}/client/logistics",
        f"  database     {where}",
        f"  broadcast    {settings.broadcast_url}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="logistics", description="The delivery platform's server.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="migrate the database and serve both edges",
        description=(
            "Migrate the database, then serve REST (/client/logistics), GraphQL (/graphql, with "
            "subscriptions) and the browser tools. Everything else is set by LOGISTICS_* "
            "environment variables or a .env file (README, Configuration)."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: %(default)s)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (default: %(default)s); more than one needs a shared broker "
        "(LOGISTICS_BROADCAST_URL=redis://...) and PostgreSQL",
    )
    serve.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        # None: on, except with --demo, whose requests would bury its status line.
        default=None,
        help="a log line per request (successful presence pings only at LOGISTICS_LOG_LEVEL=DEBUG; "
        "default: on, off with --demo)",
    )
    serve.add_argument(
        "--migrate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="migrate the database before serving (default: on); --no-migrate when migrations run "
        "once before a rollout (logistics migrate), so that replicas starting together never race",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="once the server answers, also run the fleet simulator (logistics demo) against it "
        "with a few drivers and an order about every 10 s; one Ctrl-C stops both",
    )
    sub.add_parser("migrate", help="apply database migrations")
    token = sub.add_parser("token", help="print a development JWT signed with the configured secret")
    token.add_argument("--sub", required=True)
    token.add_argument("--name")
    token.add_argument("--phone")
    token.add_argument("--role", action="append", default=[], choices=["merchant", "ops"])
    token.add_argument("--hours", type=float, default=12)
    from logistics import demo

    demo_parser = sub.add_parser(
        "demo",
        help="simulate a fleet of drivers and customers against a server",
        description=(
            "Drive a running server through its public HTTP API: drivers register, go online and "
            "answer offers, customers order (cash, or cards through the payments sandbox), every "
            "job is driven to completed, rated and tipped. Tokens are minted with this machine's "
            "LOGISTICS_JWT_SECRET, which must be the server's. Ctrl-C (or --duration) stops it: "
            "drivers go offline, orders still searching are cancelled, a summary is printed."
        ),
    )
    demo.add_arguments(demo_parser)
    args = parser.parse_args(argv)

    settings = Settings()
    if args.command == "migrate":
        migrate(settings)
        return 0
    if args.command == "token":
        from datetime import timedelta

        from logistics.auth import mint_token

        if not any(alg.startswith("HS") for alg in settings.jwt_algorithms):
            print("token: minting needs an HS* algorithm and LOGISTICS_JWT_SECRET", file=sys.stderr)
            return 2
        print(
            mint_token(
                settings,
                args.sub,
                name=args.name,
                phone=args.phone,
                roles=args.role,
                ttl=timedelta(hours=args.hours),
                algorithm=next(alg for alg in settings.jwt_algorithms if alg.startswith("HS")),
            )
        )
        return 0
    if args.command == "demo":
        if not any(alg.startswith("HS") for alg in settings.jwt_algorithms):
            print("demo: minting tokens needs an HS* algorithm and LOGISTICS_JWT_SECRET", file=sys.stderr)
            return 2
        return demo.run(demo.from_args(args), settings)
    access_log = args.access_log if args.access_log is not None else not args.demo
    if args.demo:
        from logistics.demo.serve import serve_with_demo

        serve_args = ["--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
        serve_args.append("--access-log" if access_log else "--no-access-log")
        return serve_with_demo(serve_args, args.host, args.port, settings)
    import uvicorn

    from logistics import shutdown
    from logistics.observability import tracing

    settings.check_production()
    try:
        tracing.check_installed(settings)
    except RuntimeError as missing:
        print(f"serve: {missing}", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.broadcast_url.startswith("memory"):
        # Each worker would have its own broadcast: a subscriber on one never hears what a
        # request on another published, and dispatch's driver index would drift apart.
        print(
            "serve: --workers above 1 needs a shared broker (LOGISTICS_BROADCAST_URL=redis://... or "
            "postgresql://...); with the in-memory broadcast each worker hears only its own events",
            file=sys.stderr,
        )
        return 2
    if settings.payments_sandbox and args.workers > 1:
        # Each worker would hold its own charges: a confirm could reach one that never saw them.
        print(
            "serve: the payments sandbox keeps its charges in memory; serve it with one worker",
            file=sys.stderr,
        )
        return 2
    if "LOGISTICS_PUBLIC_URL" not in os.environ:
        # Tracking links point at this server unless the deployment says where it is reached.
        os.environ["LOGISTICS_PUBLIC_URL"] = local_url(args.host, args.port)
    if args.migrate:
        migrate(settings)
    from logistics.observability import logs
    from logistics.observability.multiprocess import multiprocess_metrics

    if settings.log_format == "json":
        # Every line a JSON object, the banner too (uvicorn applies the same configuration).
        logs.configure(settings, access_log=access_log)
        logging.getLogger("logistics").info(banner(settings, args.host, args.port))
    else:
        print(banner(settings, args.host, args.port), flush=True)
    config = uvicorn.Config(
        "logistics.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # The app logs one line per request itself (logistics.observability.requests), with
        # its id and caller; --no-access-log quiets those.
        access_log=False,
        log_config=logs.log_config(settings, access_log=access_log),
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        # permessage-deflate costs ~50 KB and CPU per live subscription for small JSON frames.
        ws_per_message_deflate=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )
    # Before the workers start: each must find PROMETHEUS_MULTIPROC_DIR at its first import.
    with multiprocess_metrics(settings, args.workers):
        return shutdown.serve(config)


if __name__ == "__main__":
    raise SystemExit(main())
