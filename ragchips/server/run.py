"""Running the service: ``ragchips serve`` options, and uvicorn with one or N workers.

With ``--workers N`` uvicorn starts N processes on one listening socket; each builds its
app from the same pickled :class:`~ragchips.settings.Settings` (no environment variable is
set for them) and opens the index folder on its own. A rebuild swaps the manifest
atomically, and every worker picks the new generation up on its next request.
"""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RagchipsError
from ..index import default_index_path
from ..settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["add_serve_arguments", "main_serve", "serve", "settings_from_args"]


def _require_extra() -> None:
    """One clear line when the ``server`` extra is not installed."""
    for module in ("fastapi", "uvicorn", "fastapi_offline"):
        try:
            __import__(module)
        except ImportError:
            raise RagchipsError(
                f"the HTTP service needs the 'server' extra ({module} is missing): "
                "pip install 'ragchips[server]'"
            ) from None


def worker_app(settings: Settings) -> FastAPI:
    """The app of one worker process (uvicorn calls it in the child, as a factory)."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(message)s")
    from .app import create_app

    return create_app(settings)


def serve(settings: Settings | None = None) -> None:
    """Run the service with uvicorn until interrupted; each worker loads the index once."""
    _require_extra()
    import uvicorn

    from ..storage import read_manifest

    settings = settings if settings is not None else Settings.from_env()
    path = Path(settings.index) if settings.index is not None else default_index_path()
    settings = settings.replace(index=path.absolute())
    settings.check_api_key()  # before any worker starts: each would fail on its own
    read_manifest(path)  # a missing or foreign index fails here, in one line
    _check_address(settings.host, settings.port)  # so do a port in use and an unknown host
    config = uvicorn.Config(
        functools.partial(worker_app, settings),
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=10,
    )
    if settings.workers > 1:
        from uvicorn.supervisors import Multiprocess

        # uvicorn.run() wants an import string for workers; the config (and the settings
        # in it) is pickled to each spawned worker instead.
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
        return
    from .state import IndexHolder

    IndexHolder(path.absolute()).get()  # an unreadable index fails here too, before uvicorn
    uvicorn.Server(config).run()


def _check_address(host: str, port: int) -> None:
    """Bind ``host:port`` once and let it go: uvicorn would log its start-up first, then
    the error among INFO lines, and exit with status 3."""
    import socket

    from ..errors import ConfigurationError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ConfigurationError(f"--host {host}: not an address ({exc.strerror})") from None
    except (UnicodeError, ValueError):  # "127.0.0..1", a label of 64+ characters
        raise ConfigurationError(f"--host {host}: not an address (not a valid host name)") from None
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            hint = ""
            if exc.errno == errno.EADDRINUSE:
                hint = ": another program listens there; stop it or give another --port"
            raise ConfigurationError(
                f"cannot listen on {host}:{port} ({exc.strerror}){hint}"
            ) from None


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 0 to 65535, not {value}")
    return value


def _positive(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be a whole number >= 1, not {text!r}")
        return value

    return parse


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``ragchips serve`` (declared once, for any parser that hosts it)."""
    parser.add_argument(
        "--index", metavar="PATH", help="index folder (default: the bundled articles)"
    )
    parser.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 127.0.0.1: this machine only)",
    )
    parser.add_argument("--port", type=_port, default=None, help="port (default 8000)")
    parser.add_argument(
        "--workers",
        type=_positive("workers"),
        default=None,
        help="processes sharing the index on disk (default 1)",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="require 'Authorization: Bearer KEY' from clients "
        "(default: $RAGCHIPS_SERVER_API_KEY; unset: no key)",
    )
    parser.add_argument(
        "--model",
        action="append",
        metavar="NAME",
        help="a chat model clients may name (repeatable; also $RAGCHIPS_SERVER_MODELS and "
        "$RAGCHIPS_LLM); no other model is ever called",
    )
    parser.add_argument(
        "--client-limit",
        type=_positive("client limit"),
        default=None,
        help="requests in flight per client before 429 (default 8)",
    )
    parser.add_argument(
        "--history-tokens",
        type=_positive("history tokens"),
        default=None,
        help="chat history read per request, in approximate tokens (default 2000)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--no-access-log", action="store_true", help="do not log every request")


def settings_from_args(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """``base`` (default: the environment's settings) with the options given on top."""
    base = base if base is not None else Settings.from_env()
    models = tuple(dict.fromkeys([*base.models, *(args.model or [])]))
    return base.replace(
        index=Path(args.index) if args.index else None,
        host=args.host,
        port=args.port,
        workers=args.workers,
        api_key=args.api_key,
        models=models,
        client_limit=args.client_limit,
        history_tokens=args.history_tokens,
        log_level=args.log_level,
        access_log=not args.no_access_log,
    )


def main_serve(argv: list[str] | None = None) -> int:
    """``ragchips serve``: run the HTTP service (needs the ``server`` extra)."""
    parser = argparse.ArgumentParser(
        prog="ragchips serve",
        description="Serve cited answers over HTTP: a chat page at /, /ask, /search, "
        "/health and an OpenAI-compatible /v1/chat/completions (docs at /docs).",
    )
    add_serve_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    try:
        serve(settings_from_args(args))
    except RagchipsError as exc:
        print(f"ragchips serve: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
