"""`CheckedBackend`: a plain backend's requests checked against what it can do and priced
under the cost cap, once, before anything is spent."""

from __future__ import annotations

from collections.abc import Callable

from imagegate.backend import Backend
from imagegate.catalog.models import (
    UNPRICED_HINT,
    CatalogPriced,
    priced_by_catalog,
    prices_by_quality,
)
from imagegate.errors import CostCapExceededError, RequestError, UnpricedModelError
from imagegate.guards.admission import Admission, Guard, Refusal, priced_by
from imagegate.request import QUALITY_LEVELS, ImageRequest, Quality, at_quality
from imagegate.result import CostEstimate, ImageResult, ImageWarning
from imagegate.state.costs import CostRatios, calibrated
from imagegate.validation import check_request

__all__ = ["CheckedBackend"]

# Most distinct (size, aspect ratio, exact_size) a backend remembers the check of.
_GEOMETRIES = 256


class CheckedBackend(Guard):
    """Admits what `backend` can serve, estimated at no more than the cap; ``quality="auto"``
    on a backend the catalog prices by quality is admitted at the highest quality that fits
    the cap, and that quality is sent.

    Args:
        backend: the backend to guard.
        cap_usd: a cost cap for every request (a policy's ``max_per_request_usd``); a
            request's own ``max_cost_usd`` applies too, and the lower of the two wins.
        costs: the ratios of what the backend billed to its estimates: estimates are
            multiplied by its factor (`imagegate.state.costs`) before the cap is checked.
    """

    def __init__(
        self, backend: Backend, *, cap_usd: float | None = None, costs: CostRatios | None = None
    ) -> None:
        super().__init__(backend)
        self.cap_usd = cap_usd
        caps = self._capabilities
        # What a plain request is checked against, read once: the router has every candidate
        # of every request admit it.
        self._max_prompt_chars = caps.max_prompt_chars
        self._max_n = caps.max_n
        self._generates = caps.generate
        self._transparent = caps.transparent_background
        self._seed = caps.seed
        self._negative_prompt = caps.negative_prompt
        self._lora = caps.lora
        pricer = priced_by(backend)
        self._estimate: Callable[[ImageRequest], CostEstimate] = pricer.estimate_cost
        if costs is not None:
            self._estimate = _calibrating(pricer.estimate_cost, costs, self._name)
        # Priced from the catalog, `assess` depends on nothing but the request's content (and
        # the cost factors, whose `version` says when they change): a router may keep its
        # verdict for requests alike (`imagegate.routing.plan`).
        self.catalog_priced = priced_by_catalog(pricer)
        self._geometry_ok: dict[tuple[str | None, str | None, bool], bool] = {}
        # Whether ``quality="auto"`` is resolved: only where the catalog's price says what
        # each quality costs. A backend pricing itself prices ``auto`` as it sees fit.
        self._by_quality = (
            self.catalog_priced
            and isinstance(pricer, CatalogPriced)
            and prices_by_quality(pricer.spec)
        )

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """Check `request` against the backend's capabilities and price it; refused when the
        backend cannot serve it as written (`InvalidRequestError`, `CapabilityError`) or the
        estimate is over the cap (`CostCapExceededError`)."""
        warnings: tuple[ImageWarning, ...] = ()
        if not self._plain(request):
            try:
                warnings = tuple(check_request(request, self._capabilities, self._name))
            except RequestError as error:
                return Refusal.of(f"cannot serve it: {error.message}", error)
        cap, which = self.cap_usd, "the policy's max_per_request_usd"
        if request.max_cost_usd is not None and (cap is None or request.max_cost_usd <= cap):
            cap, which = request.max_cost_usd, "max_cost_usd"
        quality: Quality | None = None
        if request.quality == "auto" and self._by_quality:
            quality, estimate, lowered = self._auto_quality(request, cap)
            if lowered is not None:
                warnings = (*warnings, lowered)
        else:
            estimate = self._estimate(request)
        if cap is not None and not estimate.priced:
            name, shown = self._name, which
            return Refusal(
                f"unpriced, under the ${cap:.4f} cap: {UNPRICED_HINT}",
                lambda: UnpricedModelError(
                    f"{name} has no price, so it cannot be held under {shown}=${cap:.4f}: "
                    f"{UNPRICED_HINT}",
                    backend=name,
                ),
            )
        if cap is not None and estimate.usd > cap + 1e-12:
            name, usd, limit = self._name, estimate.usd, cap
            return Refusal(
                f"estimated ${usd:.4f} over the ${limit:.4f} cap",
                lambda: CostCapExceededError(
                    f"{name} is estimated at ${usd:.4f} ({estimate.basis}), "
                    f"over {which}=${limit:.4f}",
                    estimate_usd=usd,
                    cap_usd=limit,
                    backend=name,
                ),
            )
        return Admission(request, self._name, estimate, warnings, quality=quality)

    def _auto_quality(
        self, request: ImageRequest, cap: float | None
    ) -> tuple[Quality, CostEstimate, ImageWarning | None]:
        """The highest quality whose estimate for `request` fits `cap` (the lowest when none
        does, to be refused as over it), that estimate, and a warning when the quality was
        lowered to fit."""
        for quality in QUALITY_LEVELS:
            estimate = self._estimate(at_quality(request, quality))
            if cap is None or estimate.usd <= cap + 1e-12 or quality == QUALITY_LEVELS[-1]:
                break
        if quality == QUALITY_LEVELS[0]:
            return quality, estimate, None
        lowered = ImageWarning(
            kind="compatibility",
            feature="quality",
            message=f"quality auto is sent as {quality}: the highest quality whose estimate "
            f"(${estimate.usd:.4f}) fits the ${cap:.4f} cap",
        )
        return quality, estimate, lowered

    def _plain(self, request: ImageRequest) -> bool:
        """Whether `request` passes `check_request` with no warning, told from what was read
        once and the checks of sizes already made (False: `check_request` decides)."""
        if (
            len(request.prompt) > self._max_prompt_chars
            or request.n > self._max_n
            or request.images
            or not self._generates
            or request.provider_options
            or (request.lora and not self._lora)
            or (request.background == "transparent" and not self._transparent)
            or (request.seed is not None and not self._seed)
            or (request.negative_prompt and not self._negative_prompt)
            or request.partial_images
        ):
            return False
        if request.size is None and request.aspect_ratio is None:
            return True
        geometry = (request.size, request.aspect_ratio, request.exact_size)
        ok = self._geometry_ok.get(geometry)
        if ok is None:
            ok = self._geometry_passes(request)
            if len(self._geometry_ok) >= _GEOMETRIES:
                self._geometry_ok.clear()
            self._geometry_ok[geometry] = ok
        return ok

    def _geometry_passes(self, request: ImageRequest) -> bool:
        """Whether the request's size and aspect ratio pass the backend's size rule."""
        rule = self._capabilities.sizes
        try:
            size = request.parsed_size
            if size is not None:
                rule.check_size(size, model=self._name, exact=request.exact_size)
            ratio = request.parsed_aspect_ratio
            if ratio is not None:
                rule.check_ratio(ratio.value, shown=f"aspect ratio {ratio}", model=self._name)
        except RequestError:
            return False
        return True

    async def run(self, admission: Admission) -> ImageResult:
        """Serve the admitted request; its warnings and estimate travel to the result."""
        request = admission.request
        if admission.quality is not None:
            request = at_quality(request, admission.quality)
        call = self.inner.edit if request.is_edit else self.inner.generate
        result = await call(request)
        warnings = tuple(dict.fromkeys((*admission.warnings, *result.warnings)))
        cost = result.cost.model_copy(update={"estimate": admission.estimate})
        return result.model_copy(update={"warnings": warnings, "cost": cost})


def _calibrating(
    estimate: Callable[[ImageRequest], CostEstimate], costs: CostRatios, backend: str
) -> Callable[[ImageRequest], CostEstimate]:
    """`estimate`, multiplied by `backend`'s cost factor."""

    def calibrating(request: ImageRequest) -> CostEstimate:
        return calibrated(estimate(request), costs.factor(backend))

    return calibrating
