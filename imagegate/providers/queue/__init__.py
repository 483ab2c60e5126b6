"""Providers that run jobs on a queue (Replicate, fal, WaveSpeed): one job runner, one poller,
one `QueueBackend`, and an adapter per provider."""
