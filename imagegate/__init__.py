"""imagegate: one `ImageRequest`/`ImageResult` interface over every way to make an image.

Importing imagegate loads no provider SDK and no torch; each is imported when the backend
that needs it is first used.
"""

from imagegate import errors
from imagegate.backend import Backend, Capabilities
from imagegate.catalog import Catalog, LatencyPrior, ModelSpec, get_model, models
from imagegate.client import Client, SyncClient, agenerate, generate
from imagegate.decision import Exclusion, FallbackAttempt, RouteDecision
from imagegate.inputs import InputImage
from imagegate.request import ImageRequest, LoraSpec
from imagegate.result import Cost, CostEstimate, GeneratedImage, ImageResult, ImageWarning, Timings
from imagegate.sizes import SizeRule

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "Capabilities",
    "Catalog",
    "Client",
    "Cost",
    "CostEstimate",
    "Exclusion",
    "FallbackAttempt",
    "GeneratedImage",
    "ImageRequest",
    "ImageResult",
    "ImageWarning",
    "InputImage",
    "LatencyPrior",
    "LoraSpec",
    "ModelSpec",
    "RouteDecision",
    "SizeRule",
    "SyncClient",
    "Timings",
    "__version__",
    "agenerate",
    "errors",
    "generate",
    "get_model",
    "models",
]
