"""Faithful emulators of each provider's HTTP protocol, with fault injection; imported on first
use from `imagegate.testing`."""
