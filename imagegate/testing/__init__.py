"""Test doubles that ship with imagegate: use them to test code that generates images.

`FakeBackend` draws the prompt instead of calling a provider.
"""

from imagegate.testing.fake import FakeBackend
from imagegate.testing.render import render_image

__all__ = ["FakeBackend", "render_image"]
