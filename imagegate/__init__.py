"""imagegate: one `ImageRequest`/`ImageResult` interface over every way to make an image.

Importing imagegate loads no provider SDK and no torch; each is imported when the backend
that needs it is first used.
"""

from imagegate import errors
from imagegate.backend import Backend, Capabilities
from imagegate.catalog.models import Catalog, LatencyPrior, ModelSpec, get_model, models
from imagegate.client import Client, SyncClient, agenerate, generate
from imagegate.decision import CandidateScore, Exclusion, FallbackAttempt, RouteDecision, TextNeed
from imagegate.images.inputs import InputImage
from imagegate.images.sizes import SizeRule
from imagegate.request import ImageRequest, LoraSpec, RequestOptions
from imagegate.result import Cost, CostEstimate, GeneratedImage, ImageResult, ImageWarning, Timings
from imagegate.routing.policy import Policy
from imagegate.routing.textneed import detect_text_need

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "CandidateScore",
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
    "Policy",
    "RequestOptions",
    "RouteDecision",
    "SizeRule",
    "SyncClient",
    "TextNeed",
    "Timings",
    "__version__",
    "agenerate",
    "detect_text_need",
    "errors",
    "generate",
    "get_model",
    "models",
]
