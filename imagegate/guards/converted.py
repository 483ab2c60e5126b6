"""`Converted`: every image delivered in the format the request asked for."""

from __future__ import annotations

from imagegate.guards.admission import Layer
from imagegate.images.formats import to_format
from imagegate.request import ImageRequest
from imagegate.result import ImageResult

__all__ = ["Converted"]


class Converted(Layer):
    """Re-encodes images a backend returned in another format, with a warning saying so."""

    async def call(self, request: ImageRequest) -> ImageResult:
        """Serve, then convert what is not in ``request.output_format``."""
        return self._delivered(request, await self.forward(request))

    def _delivered(self, request: ImageRequest, result: ImageResult) -> ImageResult:
        """`result` with its images in ``request.output_format``."""
        converted = [
            to_format(image, request.output_format, request.output_compression, result.backend)
            for image in result.images
        ]
        added = [warning for _, warning in converted if warning is not None]
        if not added:
            return result
        warnings = tuple(dict.fromkeys((*result.warnings, *added)))
        images = tuple(image for image, _ in converted)
        return result.model_copy(update={"images": images, "warnings": warnings})
