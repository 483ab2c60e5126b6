"""The least a Python gateway can be on imagegate's stack: uvicorn (httptools, uvloop) in front,
imagegate's own HTTP/1.1 pool behind, and nothing between: each request's body is sent on to
the provider as it came, with the caller's key, and the answer handed back as it came. No
routing, no checks, no state. bench/gateway_servers.py runs it as the floor of its Python
gateways (``--gateways relay``).

    python bench/peers/relay.py --port 8080 --upstream http://127.0.0.1:9000
"""

from __future__ import annotations

import argparse
from typing import Any

import httpx
import uvicorn

from imagegate.providers.connections import ConnectionPool

Scope = dict[str, Any]


def relay_app(upstream: str) -> Any:
    client = httpx.AsyncClient(base_url=upstream, transport=ConnectionPool(1000), timeout=600)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await client.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        forwarded = {
            name.decode(): value.decode()
            for name, value in scope["headers"]
            if name in (b"authorization", b"content-type")
        }
        answer = await client.post(scope["path"], content=body, headers=forwarded)
        headers = [(b"content-type", answer.headers.get("content-type", "").encode())]
        start = {"type": "http.response.start", "status": answer.status_code, "headers": headers}
        await send(start)
        await send({"type": "http.response.body", "body": answer.content})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="the provider's origin")
    args = parser.parse_args()
    uvicorn.run(
        relay_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        http="httptools",
        loop="uvloop",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
