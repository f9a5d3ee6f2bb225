"""The web server of ``trainlab inspect``: a Starlette app around an :class:`~trainlab.inspect.live.Inspector`.

Routes: ``GET /`` the page; ``GET /api/info``; ``GET /api/image/{index}``; ``POST /api/run``; and
``GET /files/{path}``, the run's pictures (PNG, GIF, SVG, HTML, JSON, CSV) from inside the experiment
folder only: a path that resolves outside it (``..``, a symbolic link) is refused with 403. Malformed
requests (not JSON, nested too deeply, a NUL in a file name, values out of range) get 400 with a one-line
JSON error; nothing answers with a traceback.

Needs the ``live`` extra (``pip install 'trainlab[live]'``: Starlette and uvicorn).
"""
from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

from ..errors import TrainlabError, echo
from .live import BadRequest, Inspector

log = logging.getLogger(__name__)
SERVED_SUFFIXES = {".png", ".gif", ".svg", ".jpg", ".jpeg", ".html", ".json", ".csv"}
LINKS = ("training_history.png", "viz/index.html", "model.svg")  # run files the page links to when present


def _need_live() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise TrainlabError("trainlab inspect needs the live extra: pip install 'trainlab[live]' "
                            "(Starlette and uvicorn).") from None


def create_app(inspector: Inspector, exp_dir: Path, *, title: str = "trainlab inspect"):
    """The Starlette application serving the page for ``inspector`` and the files of ``exp_dir``.

    Example:
        >>> app = create_app(inspector, Path("experiments/digits-cnn"))  # doctest: +SKIP
    """
    _need_live()
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    root = Path(exp_dir).resolve()
    page = resources.files("trainlab.inspect").joinpath("page.html").read_text(encoding="utf-8")

    def error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    def index(request: Request) -> Response:
        links = [name for name in LINKS if (root / name).is_file()]
        return HTMLResponse(page.replace("__TITLE__", title).replace("__LINKS__", json.dumps(links)))

    def info(request: Request) -> Response:
        return JSONResponse(inspector.info())

    def image(request: Request) -> Response:
        try:
            return JSONResponse(inspector.image(request.path_params["index"]))
        except BadRequest as e:
            return error(404, str(e))

    async def run(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):  # JSONDecodeError, or a number of more than 4,300 digits
            return error(400, "the request body is not JSON.")
        except RecursionError:
            return error(400, "the request body is nested too deeply.")
        from starlette.concurrency import run_in_threadpool

        try:
            return JSONResponse(await run_in_threadpool(inspector.run, body))
        except BadRequest as e:
            return error(400, str(e))
        except Exception as e:  # a bug, not the client's fault: logged with its traceback, answered in one line
            log.exception("inspect: /api/run failed")
            return error(500, f"the server failed on this request ({type(e).__name__}); see its log.")

    def files(request: Request) -> Response:
        wanted = request.path_params["path"]
        if "\0" in wanted:
            return error(400, f"{echo(wanted)} holds a NUL character; no file has one in its name.")
        try:
            path = (root / wanted).resolve()
            if not path.is_relative_to(root):
                return error(403, f"{echo(wanted)} is outside the experiment folder.")
            if not path.is_file() or path.suffix.lower() not in SERVED_SUFFIXES:
                return error(404, f"no such picture or table: {echo(wanted)}.")
        except (OSError, ValueError):  # a name too long for the file system, a symbolic-link loop
            return error(404, f"no such picture or table: {echo(wanted)}.")
        return FileResponse(path)

    return Starlette(routes=[
        Route("/", index), Route("/api/info", info), Route("/api/image/{index:int}", image),
        Route("/api/run", run, methods=["POST"]), Route("/files/{path:path}", files),
    ])


@contextlib.contextmanager
def running(app, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread while inside; yields the base URL. ``port=0`` picks a
    free port (tests, benchmarks).

    Example:
        >>> with running(create_app(inspector, exp)) as url:  # doctest: +SKIP
        ...     urllib.request.urlopen(url + "/api/info").status
        200
    """
    _need_live()
    import uvicorn

    sock = _bind(host, port)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise TrainlabError(f"the inspection server did not start on {host}:{port}.")
        time.sleep(0.02)
    try:
        bound = sock.getsockname()
        yield f"http://{'[' + host + ']' if ':' in host else host}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """A socket listening address (host, port), or a TrainlabError saying why not."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise TrainlabError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host.") from None
    return sock


def serve(app, *, host: str = "127.0.0.1", port: int = 8765, ready: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` until interrupted (Ctrl-C); ``ready(url)`` is called once the port is bound (so a busy port
    fails before anything claims the page is served)."""
    _need_live()
    import uvicorn

    sock = _bind(host, port)
    if ready is not None:
        ready(f"http://{'[' + host + ']' if ':' in host else host}:{sock.getsockname()[1]}/")
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        sock.close()
