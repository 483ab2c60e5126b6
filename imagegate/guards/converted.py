"""`Converted`: every image delivered in the format the request asked for."""

from __future__ import annotations

from imagegate.formats import to_format
from imagegate.guards.admission import Layer
from imagegate.request import ImageRequest
from imagegate.result import ImageResult, ImageWarning

__all__ = ["Converted"]


class Converted(Layer):
    """Re-encodes images a backend returned in another format, with a warning saying so."""

    async def call(self, request: ImageRequest) -> ImageResult:
        """Serve, then convert what is not in ``request.output_format``."""
        result = await self.forward(request)
        images = []
        warnings: list[ImageWarning] = list(result.warnings)
        for image in result.images:
            converted, warning = to_format(
                image, request.output_format, request.output_compression, result.backend
            )
            images.append(converted)
            if warning is not None and warning not in warnings:
                warnings.append(warning)
        if len(warnings) == len(result.warnings):
            return result
        return result.model_copy(update={"images": tuple(images), "warnings": tuple(warnings)})
