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
from imagegate.errors import ImagegateError
from imagegate.request import ImageRequest
from imagegate.result import ImageResult

__all__ = ["Metrics", "Served", "status_html", "thumbnail"]


@dataclass(frozen=True)
class Served:
    """One finished request, for the status page."""

    at: float
    prompt: str
    backend: str
    cost_usd: float
    seconds: float
    explanation: str
    thumbnail: str
    private: bool = False


class Metrics:
    """Counters for /metrics, per backend; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.spend: dict[str, float] = defaultdict(float)
        self.recent: deque[Served] = deque(maxlen=20)

    def served(self, request: ImageRequest, result: ImageResult) -> None:
        if request.private:
            # Kept for nothing, shown to no one: the explanation quotes the prompt's text too.
            prompt = shown = explanation = ""
        else:
            prompt, shown = request.prompt, thumbnail(result.image.data)
            explanation = result.route.explain() if result.route else ""
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
                    explanation=explanation,
                    thumbnail=shown,
                    private=request.private,
                )
            )

    def failed(self, error: ImagegateError) -> None:
        with self._lock:
            self.requests[(error.backend or "none", type(error).__name__)] += 1

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


def thumbnail(data: bytes) -> str:
    """A small JPEG of the image, as a data URL."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB")
        small.thumbnail((96, 96))
        buffer = io.BytesIO()
        small.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def _shown(served: Served) -> str:
    """The thumbnail of a served request, or "private" in its place."""
    if served.private:
        return "<i>private</i>"
    return f"<img src='{served.thumbnail}' alt='thumbnail'>"


def _prompt(served: Served) -> str:
    return "<i>private</i>" if served.private else html.escape(served.prompt[:120])


def status_html(client: Client, metrics: Metrics) -> str:
    """The status page: spend today, budgets (the tenants' too), latency per backend, recent
    decisions (a private request's without its prompt and image)."""
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
        f"<pre>{html.escape(s.explanation)}</pre></li>"
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
