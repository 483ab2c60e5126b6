"""Routing: the policy (``routing.yaml``), the router built from it, and the text-need detector
it routes by."""
