"""What the gateway shows of itself: Prometheus counters (``/metrics``) and the status page
(``/``)."""

from __future__ import annotations

import base64
import html
import io
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

from PIL import Image

from imagegate.client import Client
from imagegate.decision import RouteDecision
from imagegate.errors import ImagegateError
from imagegate.request import ImageRequest
from imagegate.result import ImageResult

__all__ = ["Metrics", "Served", "Thumbnail", "status_html", "thumbnail"]

MAX_HELD_BYTES = 64 * 1024 * 1024
"""The most image bytes the status page holds for thumbnails not yet shown (the newest
images' first)."""


class Thumbnail:
    """The thumbnail of one served image, made the first time the status page shows it (so
    that serving decodes nothing for the page); until then it holds the image's bytes."""

    def __init__(self, data: bytes) -> None:
        self._lock = threading.Lock()
        self._data: bytes | None = data
        self._made: str | None = None

    @property
    def held(self) -> int:
        """The image bytes it holds until it is made."""
        data = self._data
        return 0 if data is None else len(data)

    def drop(self) -> None:
        """Let go of the image: no thumbnail will be made."""
        with self._lock:
            self._data = None

    def made(self) -> str | None:
        """The thumbnail as a data URL (made now, the first time), or None when there is
        none: dropped, or an image the page cannot shrink."""
        with self._lock:
            if self._data is not None:
                try:
                    self._made = thumbnail(self._data)
                except Exception:  # the answer was served all the same; the page shows none
                    self._made = None
                self._data = None
            return self._made


@dataclass(frozen=True)
class Served:
    """One finished request, for the status page: its thumbnail (None: none is kept) and its
    route, whose explanation is written when the page is."""

    at: float
    prompt: str
    backend: str
    cost_usd: float
    seconds: float
    route: RouteDecision | None
    thumbnail: Thumbnail | None
    private: bool = False


class Metrics:
    """Counters for /metrics, per backend, and the recent requests the status page shows; safe
    across threads."""

    def __init__(self, max_held_bytes: int = MAX_HELD_BYTES) -> None:
        self._lock = threading.Lock()
        self._max_held_bytes = max_held_bytes
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.spend: dict[str, float] = defaultdict(float)
        self.refusals: dict[tuple[str, int, str], int] = defaultdict(int)
        self.recent: deque[Served] = deque(maxlen=20)

    def served(self, request: ImageRequest, result: ImageResult) -> None:
        if request.private:
            # Kept for nothing, shown to no one: the explanation quotes the prompt's text too.
            prompt, shown, route = "", None, None
        else:
            prompt, shown = request.prompt, Thumbnail(result.image.data)
            route = result.route
        with self._lock:
            self.requests[(result.backend, "ok")] += 1
            self.seconds[result.backend] += result.timings.total_s
            self.spend[result.backend] += result.cost.usd
            self.recent.appendleft(
                Served(
                    at=time.time(),
                    prompt=prompt,
                    backend=result.backend,
                    cost_usd=result.cost.usd,
                    seconds=result.timings.total_s,
                    route=route,
                    thumbnail=shown,
                    private=request.private,
                )
            )
            self._within_held_bytes()

    def _within_held_bytes(self) -> None:
        """Drop the images of the oldest thumbnails not yet made past `max_held_bytes`."""
        held = 0
        for served in self.recent:
            if served.thumbnail is not None:
                held += served.thumbnail.held
                if held > self._max_held_bytes:
                    served.thumbnail.drop()

    def failed(self, error: ImagegateError) -> None:
        with self._lock:
            self.requests[(error.backend or "none", type(error).__name__)] += 1

    def refused(self, tenant: str | None, status: int, code: str) -> None:
        """Count an image request the gateway refused before routing it (unknown key, rate
        limit, a model or privacy the tenant may not use); `tenant` None for an unknown key."""
        with self._lock:
            self.refusals[(tenant or "", status, code)] += 1

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP imagegate_requests_total Requests by backend and outcome.",
                "# TYPE imagegate_requests_total counter",
            ]
            lines += [
                f'imagegate_requests_total{{backend="{b}",outcome="{o}"}} {n}'
                for (b, o), n in sorted(self.requests.items())
            ]
            lines += [
                "# HELP imagegate_refusals_total Image requests refused before routing, by "
                "tenant (empty for an unknown key), HTTP status and error code.",
                "# TYPE imagegate_refusals_total counter",
            ]
            lines += [
                f'imagegate_refusals_total{{tenant="{_label(t)}",status="{s}",code="{c}"}} {n}'
                for (t, s, c), n in sorted(self.refusals.items())
            ]
            lines += [
                "# HELP imagegate_request_seconds_total Time spent serving, by backend.",
                "# TYPE imagegate_request_seconds_total counter",
            ]
            lines += [
                f'imagegate_request_seconds_total{{backend="{b}"}} {s:.6f}'
                for b, s in sorted(self.seconds.items())
            ]
            lines += [
                "# HELP imagegate_spend_usd_total Spend by backend, in USD.",
                "# TYPE imagegate_spend_usd_total counter",
            ]
            lines += [
                f'imagegate_spend_usd_total{{backend="{b}"}} {s:.6f}'
                for b, s in sorted(self.spend.items())
            ]
            return "\n".join(lines) + "\n"


def _label(value: str) -> str:
    """`value` as a Prometheus label value (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def thumbnail(data: bytes) -> str:
    """A small JPEG of the image, as a data URL."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((96, 96))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _shown(served: Served) -> str:
    """The thumbnail of a served request, or what stands in its place."""
    if served.private:
        return "<i>private</i>"
    made = served.thumbnail.made() if served.thumbnail is not None else None
    if made is None:
        return "<i>no thumbnail</i>"
    return f"<img src='{made}' alt='thumbnail'>"


def _prompt(served: Served) -> str:
    return "<i>private</i>" if served.private else html.escape(served.prompt[:120])


def status_html(client: Client, metrics: Metrics) -> str:
    """The status page: spend today, budgets (the tenants' too), latency per backend, recent
    decisions (a private request's without its prompt and image). It makes the thumbnails
    not yet shown (decoding their images): render it off the event loop."""
    router = client.router
    rows, budgets, latency = [], [], []
    if router is not None:
        rows = [
            f"<tr><td>{html.escape(r.backend)}</td><td>{html.escape(r.tag or '-')}</td>"
            f"<td>{r.requests}</td><td>${r.spent_usd:.4f}</td></tr>"
            for r in router.ledger.summary("day")
        ]
        budgets = [
            f"<li>{html.escape(b.name)} ({html.escape(b.scope)}, per {b.period}): "
            f"${router.ledger.remaining(b):.4f} left of ${b.limit_usd:.2f}</li>"
            for b in router.budgets.budgets
        ]
        for name, routed in router.backends.items():
            prior = routed.spec.latency if routed.spec else None
            estimate = router.latency.estimate(
                name, prior.p50_s if prior else 5.0, prior.p95_s if prior else 15.0
            )
            latency.append(
                f"<tr><td>{html.escape(name)}</td><td>{estimate.p50_s:.2f} s</td>"
                f"<td>{estimate.p95_s:.2f} s</td><td>{estimate.source} "
                f"({estimate.samples})</td></tr>"
            )
    recent = [
        f"<li>{_shown(s)} <b>{html.escape(s.backend)}</b> "
        f"${s.cost_usd:.4f}, {s.seconds:.2f} s: {_prompt(s)}"
        f"<pre>{html.escape(s.route.explain() if s.route else '')}</pre></li>"
        for s in list(metrics.recent)
    ]
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>imagegate</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:.2em .8em}}
img{{vertical-align:top}} pre{{font-size:.8em;background:#f4f4f4;padding:.5em}}</style>
</head><body>
<h1>imagegate</h1>
<h2>Spend today</h2>
<table><tr><th>backend</th><th>tag</th><th>requests</th><th>spent</th></tr>{"".join(rows)}</table>
<h2>Budgets</h2><ul>{"".join(budgets) or "<li>none</li>"}</ul>
<h2>Latency</h2>
<table><tr><th>backend</th><th>p50</th><th>p95</th><th>from</th></tr>{"".join(latency)}</table>
<h2>Recent decisions</h2><ul>{"".join(recent) or "<li>none yet</li>"}</ul>
</body></html>"""
