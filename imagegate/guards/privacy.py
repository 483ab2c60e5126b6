"""`PrivateOnly`: a private request reaches a backend only when that backend is private."""

from __future__ import annotations

from imagegate.backend import Serving
from imagegate.errors import PrivacyError
from imagegate.guards.admission import Admission, Guarded, Refusal, Wrapper
from imagegate.request import ImageRequest

__all__ = ["NOT_PRIVATE", "PrivateOnly"]

NOT_PRIVATE = "not private: a private request never leaves this machine"


class PrivateOnly(Wrapper):
    """Refuses ``private=True`` requests unless `private` says the backend counts as private
    (it runs on this machine, or the policy trusts it)."""

    def __init__(self, inner: Guarded, *, private: bool) -> None:
        super().__init__(inner)
        self.private = private
        name = self.name
        self._refusal = Refusal(
            NOT_PRIVATE, lambda: PrivacyError(f"{name} is {NOT_PRIVATE}", backend=name)
        )

    def assess(self, request: ImageRequest) -> Admission | Refusal:
        """Refuse a private request first (`PrivacyError`: the request is private and this
        backend is not), then admit as the backend inside does."""
        if request.private and not self.private:
            return self._refusal
        return self._inner_assess(request)

    def run(self, admission: Admission) -> Serving:
        """Run, refusing again: an admission made elsewhere must not carry a private request
        out of the machine."""
        self._refuse(admission.request)
        return self.inner.run(admission)

    def _refuse(self, request: ImageRequest) -> None:
        if request.private and not self.private:
            raise self._refusal.error()
