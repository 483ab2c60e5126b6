"""`CheckedBackend`: a plain backend's requests checked against what it can do and priced
under the cost cap, once, before anything is spent."""

from __future__ import annotations

from imagegate.backend import Backend
from imagegate.errors import CostCapExceededError
from imagegate.guards.admission import Admission, Guard
from imagegate.request import ImageRequest
from imagegate.result import ImageResult
from imagegate.validation import check_request

__all__ = ["CheckedBackend"]


class CheckedBackend(Guard):
    """Admits what `backend` can serve, estimated at no more than the cap.

    Args:
        backend: the backend to guard.
        cap_usd: a cost cap for every request (a policy's ``max_per_request_usd``); a
            request's own ``max_cost_usd`` applies too, and the lower of the two wins.
    """

    def __init__(self, backend: Backend, *, cap_usd: float | None = None) -> None:
        super().__init__(backend)
        self.cap_usd = cap_usd

    def admit(self, request: ImageRequest) -> Admission:
        """Check `request` against the backend's capabilities and price it.

        Raises:
            InvalidRequestError, CapabilityError: the backend cannot serve it as written.
            CostCapExceededError: the estimate is over the cap.
        """
        warnings = check_request(request, self.inner.capabilities, self.inner.name)
        estimate = self.inner.estimate_cost(request)
        cap, which = self.cap_usd, "the policy's max_per_request_usd"
        if request.max_cost_usd is not None and (cap is None or request.max_cost_usd <= cap):
            cap, which = request.max_cost_usd, "max_cost_usd"
        if cap is not None and estimate.usd > cap + 1e-12:
            raise CostCapExceededError(
                f"{self.inner.name} is estimated at ${estimate.usd:.4f} ({estimate.basis}), "
                f"over {which}=${cap:.4f}",
                estimate_usd=estimate.usd,
                cap_usd=cap,
                backend=self.inner.name,
            )
        return Admission(request, self.inner.name, estimate, tuple(warnings))

    async def run(self, admission: Admission) -> ImageResult:
        """Serve the admitted request; its warnings and estimate travel to the result."""
        request = admission.request
        call = self.inner.edit if request.is_edit else self.inner.generate
        result = await call(request)
        warnings = tuple(dict.fromkeys((*admission.warnings, *result.warnings)))
        cost = result.cost.model_copy(update={"estimate": admission.estimate})
        return result.model_copy(update={"warnings": warnings, "cost": cost})
