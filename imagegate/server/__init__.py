"""``imagegate serve``: the OpenAI-compatible HTTP gateway (`imagegate.server.app`)."""
