"""A flaky remote call with retries, exponential backoff and a timeout.

The example starts its own HTTP server on 127.0.0.1 (a free port, stdlib ``http.server`` in
a thread) that misbehaves on purpose: the first request hangs past the stage's timeout, the
second answers ``503 Service Unavailable``, and from then on it answers. The ``quote`` stage
retries transient failures (timeouts, 5xx, refused connections) with a growing delay and
fails at once on anything else (a 404 is a bug, not bad luck). Watch the ``stage.retrying``
events in the log.

Run it (it needs no network, only the loopback interface):

    python examples/flaky_api.py

The ``pipeline`` object takes the server's address as the ``base_url`` input, so against a
server of your own it also runs as
``flowkit run examples/flaky_api.py:pipeline -i base_url=http://127.0.0.1:8000``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from flowkit import Pipeline, stage


class TransientError(Exception):
    """A failure worth retrying: the server said "try again later"."""


# -- the pipeline ------------------------------------------------------------------------------


@stage(
    retries=4,  # up to 5 attempts in all
    backoff=0.05,  # wait 0.05 s, then 0.1 s, 0.2 s, ... between attempts
    max_backoff=1.0,
    jitter=True,  # spread the retries of many clients apart
    timeout=0.5,  # an attempt that takes longer fails with StageTimeoutError (retried)
    retry_on=(TransientError, TimeoutError, ConnectionError),
)
def quote(base_url: str, symbol: str = "FLOW") -> dict[str, object]:
    """Fetch a price quote; a 5xx answer is transient, any other HTTP error is not."""
    url = f"{base_url}/quote/{symbol}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - http only
            return dict(json.load(response))
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            raise TransientError(f"HTTP {error.code} from {url}") from error
        raise


@stage
def price_line(quote: dict[str, object], currency: str = "EUR") -> str:
    """One line of text for the quote."""
    return f"{quote['symbol']}: {float(quote['price']):.2f} {currency}"  # type: ignore[arg-type]


pipeline = Pipeline.from_module(__name__, name="flaky_api")


# -- a deliberately flaky local server ------------------------------------------------------


class FlakyServer(ThreadingHTTPServer):
    """Hangs on request 1, answers 503 to request 2, then serves quotes."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)  # port 0: the OS picks a free port
        self.requests = 0
        self.lock = threading.Lock()
        self.release = threading.Event()  # set on shutdown, so a hanging handler ends

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: FlakyServer

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
            number = self.server.requests
        if number == 1:
            self.server.release.wait(5)  # longer than the stage's timeout
            return
        if number == 2:
            self.send_error(503, "busy, try again later")
            return
        body = json.dumps({"symbol": self.path.rsplit("/", 1)[-1], "price": 42.5}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        """Keep the server quiet: the pipeline's events are the log worth reading."""


@contextmanager
def flaky_server() -> Iterator[FlakyServer]:
    """Serve on a free port of 127.0.0.1 in a background thread; stop on exit."""
    server = FlakyServer()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="flaky-server"
    )
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


if __name__ == "__main__":
    with flaky_server() as server:
        result = pipeline.run({"base_url": server.url})
        requests = server.requests
    result.raise_on_failure()
    print(f"{result['price_line']} after {result.stages['quote'].attempts} attempts")
    print(f"the server saw {requests} requests")
