"""Tenants of the gateway: named keys with their own budgets, rate limits, models and privacy,
and admin keys for the status page and /metrics; driven by the openai SDK and httpx."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from imagegate import Client
from imagegate.errors import ConfigError
from imagegate.server.app import create_app
from imagegate.server.tenants import Tenant, load_keys_file
from imagegate.testing.clock import ManualClock
from imagegate.testing.emulators.fal import FalEmulator
from imagegate.testing.emulators.faults import Fault
from imagegate.testing.emulators.openai import OpenAIEmulator
from imagegate.testing.emulators.replicate import ReplicateEmulator
from tests.server.gateways import serving

MARKETING_KEY = "ig-marketing-key"
OPS_KEY = "ig-ops-key"
FAL_IMAGE_USD = 0.003  # fal/flux-schnell at 1024x1024, as the catalog prices it

Start = Callable[..., str]


@pytest.fixture
def start(
    tmp_path: Path, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> Iterator[Start]:
    """Starts the gateway in front of the OpenAI and fal emulators, for these tenants and
    policy additions; gives its URL."""
    servers = ExitStack()

    def started(tenants: list[Tenant], *, clock: ManualClock | None = None, **policy: Any) -> str:
        client = Client.from_policy(
            {
                "backends": [{"model": "openai/gpt-image-2"}, {"model": "fal/flux-schnell"}],
                "state": {"path": str(tmp_path / "state.db")},
                **policy,
            },
            providers={
                "openai": openai_emulator.backend_config(),
                "fal": fal_emulator.backend_config(),
            },
        )
        gateway = serving(client, tenants=tenants, api_keys=(), clock=clock or ManualClock())
        return servers.enter_context(gateway)

    with servers:
        yield started


def sdk(gateway: str, key: str = MARKETING_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)


def marketing(**settings: Any) -> Tenant:
    return Tenant(name="marketing", key=MARKETING_KEY, **settings)


OPS = Tenant(name="ops", key=OPS_KEY, admin=True)
FOX = {"model": "fal/flux-schnell", "prompt": "a red fox in snow", "size": "1024x1024"}


def test_a_model_the_key_may_not_use_is_a_403_and_nothing_is_sent(
    start: Start, openai_emulator: OpenAIEmulator
) -> None:
    gateway = start([marketing(models=["fal/flux-schnell"])])
    with pytest.raises(openai.PermissionDeniedError) as exc:
        sdk(gateway).images.generate(model="openai/gpt-image-2", prompt="a fox")
    assert (exc.value.code, exc.value.param) == ("model_not_allowed", "model")
    assert "fal/flux-schnell" in exc.value.message
    assert openai_emulator.log.count("generate") == 0


def test_auto_chooses_only_among_the_keys_models(start: Start, fal_emulator: FalEmulator) -> None:
    # fal is the cheaper, so auto would choose it for anyone else.
    gateway = start([marketing(models=["openai/gpt-image-2"])])
    response = sdk(gateway).images.generate(model="auto", prompt="a red fox in snow")
    imagegate = (response.model_extra or {})["imagegate"]
    assert imagegate["backend"] == "openai/gpt-image-2"
    assert "fal/flux-schnell: not among the models this caller may use" in imagegate["route"]
    assert fal_emulator.log.count("submit") == 0


def test_a_named_models_fallback_stays_among_the_keys_models(
    start: Start, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    gateway = start([marketing(models=["openai/gpt-image-2"])], fallbacks={"named_models": True})
    openai_emulator.faults.add("generate", Fault.unavailable(), times=10)
    with pytest.raises(openai.InternalServerError):
        sdk(gateway).images.generate(model="openai/gpt-image-2", prompt="a fox")
    assert fal_emulator.log.count("submit") == 0


def test_requests_per_minute_is_a_429_with_retry_after_until_the_minute_refills(
    start: Start, fal_emulator: FalEmulator
) -> None:
    clock = ManualClock()
    gateway = start([marketing(rate_limits={"requests_per_minute": 2})], clock=clock)
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as exc:
        sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    assert exc.value.code == "rate_limit_exceeded"
    assert exc.value.response.headers["retry-after"] == "30"  # one request refills in 30 s
    clock.advance(30)
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    assert fal_emulator.log.count("submit") == 3


def test_images_per_minute_counts_n(start: Start, fal_emulator: FalEmulator) -> None:
    clock = ManualClock()
    gateway = start([marketing(rate_limits={"images_per_minute": 3})], clock=clock)
    sdk(gateway).images.generate(**FOX, n=2)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError) as exc:
        sdk(gateway).images.generate(**FOX, n=2)  # type: ignore[arg-type]
    assert exc.value.response.headers["retry-after"] == "20"
    with pytest.raises(openai.BadRequestError) as too_many:
        sdk(gateway).images.generate(**FOX, n=4)  # type: ignore[arg-type]
    assert too_many.value.param == "n"
    assert fal_emulator.log.count("submit") == 1  # the one of two images


def test_rate_limits_are_per_key(start: Start) -> None:
    gateway = start([marketing(rate_limits={"requests_per_minute": 1}), OPS])
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    with pytest.raises(openai.RateLimitError):
        sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    sdk(gateway, OPS_KEY).images.generate(**FOX)  # type: ignore[arg-type]


def test_a_keys_budget_holds_however_the_caller_spells_user(
    start: Start, fal_emulator: FalEmulator
) -> None:
    budgets = [{"name": "daily", "limit_usd": 2 * FAL_IMAGE_USD, "period": "day"}]
    gateway = start([marketing(budgets=budgets), OPS])
    answers = []
    for i in range(12):
        try:
            sdk(gateway).images.generate(**FOX, user=f"someone-{i}")  # type: ignore[arg-type]
            answers.append("served")
        except openai.APIStatusError as error:
            answers.append(f"{error.status_code} {error.code}")
    assert answers == ["served"] * 2 + ["402 budget_exceeded"] * 10
    assert fal_emulator.log.count("submit") == 2
    sdk(gateway, OPS_KEY).images.generate(**FOX)  # type: ignore[arg-type]  # another key's own
    page = httpx.get(f"{gateway}/", headers={"Authorization": f"Bearer {OPS_KEY}"}).text
    assert "marketing/daily (user:marketing, per day): $0.0000 left of $0.01" in page


def test_a_policys_user_budget_counts_the_key_not_what_the_caller_claims(
    start: Start, fal_emulator: FalEmulator
) -> None:
    budget = {"name": "mkt", "limit_usd": FAL_IMAGE_USD, "period": "day", "scope": "user:marketing"}
    gateway = start([marketing(), OPS], cost={"budgets": [budget]})
    sdk(gateway).images.generate(**FOX, user="not-marketing")  # type: ignore[arg-type]
    with pytest.raises(openai.APIStatusError) as exc:
        sdk(gateway).images.generate(**FOX, user="not-marketing")  # type: ignore[arg-type]
    assert exc.value.status_code == 402
    # Another key writing user=marketing does not spend (nor is refused by) marketing's budget.
    sdk(gateway, OPS_KEY).images.generate(**FOX, user="marketing")  # type: ignore[arg-type]
    assert fal_emulator.log.count("submit") == 2


def test_a_private_only_key_is_private_whatever_it_sends(
    start: Start, openai_emulator: OpenAIEmulator, fal_emulator: FalEmulator
) -> None:
    gateway = start([marketing(private_only=True)])
    with pytest.raises(openai.BadRequestError) as exc:
        sdk(gateway).images.generate(model="auto", prompt="x", extra_body={"private": False})
    assert exc.value.code == "no_route"
    assert "not private" in exc.value.message
    assert openai_emulator.log.count("generate") + fal_emulator.log.count("submit") == 0


def test_metrics_and_the_status_page_need_an_admin_key(start: Start) -> None:
    gateway = start([marketing(), OPS])
    for path in ("/", "/metrics"):
        assert httpx.get(f"{gateway}{path}").status_code == 401
        wrong = httpx.get(f"{gateway}{path}", headers={"Authorization": "Bearer nope"})
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        tenant = httpx.get(f"{gateway}{path}", headers={"Authorization": f"Bearer {MARKETING_KEY}"})
        assert (tenant.status_code, tenant.json()["error"]["code"]) == (403, "admin_key_required")
        admin = httpx.get(f"{gateway}{path}", headers={"Authorization": f"Bearer {OPS_KEY}"})
        assert admin.status_code == 200
    assert httpx.get(f"{gateway}/healthz").json() == {"status": "ok"}


def test_the_status_page_shows_private_requests_without_prompt_or_image(start: Start) -> None:
    gateway = start(
        [marketing(), OPS], privacy={"private_backends": ["fal/*"]}, text={"detect": False}
    )
    sdk(gateway).images.generate(
        model="fal/flux-schnell",
        prompt='a secret poster saying "Launch Day"',
        extra_body={"private": True},
    )
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    page = httpx.get(f"{gateway}/", headers={"Authorization": f"Bearer {OPS_KEY}"}).text
    assert "secret" not in page
    assert "Launch Day" not in page
    assert page.count("<i>private</i>") == 2  # in place of its thumbnail and its prompt
    assert page.count("data:image/jpeg;base64,") == 1  # the other request's thumbnail
    assert "a red fox in snow" in page


def test_the_edits_route_enforces_the_tenant_too(
    start: Start, openai_emulator: OpenAIEmulator
) -> None:
    gateway = start([marketing(models=["fal/flux-schnell"])])
    photo = io.BytesIO()
    Image.new("RGB", (64, 64)).save(photo, format="PNG")
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway).images.edit(
            model="openai/gpt-image-2",
            prompt="add a hat",
            image=("photo.png", photo.getvalue(), "image/png"),
        )
    assert openai_emulator.log.count("edit") == 0


def test_a_keys_file_holds_digests_or_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: Start
) -> None:
    monkeypatch.setenv("OPS_KEY_FOR_TEST", OPS_KEY)
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "tenants:\n"
        "  - name: marketing\n"
        f"    key_sha256: {hashlib.sha256(MARKETING_KEY.encode()).hexdigest()}\n"
        "    models: [fal/flux-schnell]\n"
        "  - name: ops\n"
        "    key: ${OPS_KEY_FOR_TEST}\n"
        "    admin: true\n"
    )
    gateway = start(load_keys_file(keys))
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    admin = httpx.get(f"{gateway}/metrics", headers={"Authorization": f"Bearer {OPS_KEY}"})
    assert 'outcome="ok"} 1' in admin.text
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, hashlib.sha256(MARKETING_KEY.encode()).hexdigest()).images.generate(**FOX)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            "tenants:\n  - name: a\n    key: k\n    key_sha256: " + "a" * 64 + "\n",
            ":2: tenants.0 (tenant 'a')",
        ),
        ("tenants:\n  - name: a\n", ":2: tenants.0 (tenant 'a')"),
        ("tenants:\n  - name: a\n    key: k\n    admn: true\n", ":4: tenants.0.admn (tenant 'a')"),
        ("tenants:\n  - name: a\n    key_sha256: xyz\n", ":3: tenants.0.key_sha256 (tenant 'a')"),
        ("tenants:\n  - name: a b\n    key: k\n", ":2: tenants.0.name (tenant 'a b')"),
        (
            "tenants:\n  - name: a\n    key: ${UNSET_KEY_FOR_TEST}\n",
            ":3: tenants.0.key (tenant 'a')",
        ),
        (
            "tenants:\n  - name: a\n    key: k\n    rate_limits: {requests_per_minute: 0}\n",
            ":4: tenants.0.rate_limits.requests_per_minute (tenant 'a')",
        ),
        ("tenants: [\n", ":2:1: not valid YAML"),
        ("- a\n", ": a keys file is a mapping"),
        ("tenants: []\n", ": the keys file lists no tenants"),
    ],
)
def test_a_bad_keys_file_is_a_config_error_naming_the_file_line_and_key(
    tmp_path: Path, text: str, named: str
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_keys_file(keys)
    assert f"{keys}{named}" in str(exc.value)


def test_two_tenants_with_one_name_or_one_key_are_refused(start: Start) -> None:
    with pytest.raises(ConfigError, match="name 'a'"):
        start([Tenant(name="a", key="k1"), Tenant(name="a", key="k2")])
    digest = hashlib.sha256(b"k1").hexdigest()
    with pytest.raises(ConfigError, match="a and b have the same key"):
        start([Tenant(name="a", key="k1"), Tenant(name="b", key_sha256=digest)])


def test_a_tenant_naming_a_model_the_policy_does_not_enable_is_refused(start: Start) -> None:
    with pytest.raises(ConfigError, match="replicate/flux-schnell not enabled"):
        start([marketing(models=["replicate/flux-schnell"])])


def test_the_keys_file_in_the_docs_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = (Path(__file__).parents[2] / "docs" / "server.md").read_text("utf-8")
    example = docs.split("## Tenants", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("IMAGEGATE_RESEARCH_KEY", "ig-research-key")
    monkeypatch.setenv("IMAGEGATE_OPS_KEY", OPS_KEY)
    keys = tmp_path / "keys.yaml"
    keys.write_text(example)
    marketing, research, ops = load_keys_file(keys)
    assert [b.name for b in marketing.scoped_budgets()] == ["marketing/daily", "marketing/month"]
    assert marketing.digest == hashlib.sha256(b"password").digest()
    assert (research.private_only, ops.admin) == (True, True)


def test_a_tenant_budget_named_like_a_different_policy_budget_is_refused(start: Start) -> None:
    taken = {"name": "marketing/daily", "limit_usd": 1, "period": "day"}
    with pytest.raises(ConfigError, match="different budget named 'marketing/daily'"):
        start(
            [marketing(budgets=[{"name": "daily", "limit_usd": 2, "period": "day"}])],
            cost={"budgets": [taken]},
        )


def metrics_of(gateway: str) -> str:
    return httpx.get(f"{gateway}/metrics", headers={"authorization": f"Bearer {OPS_KEY}"}).text


def test_refusals_are_counted_in_metrics_by_tenant_status_and_code(start: Start) -> None:
    design = Tenant(name="design", key="ig-design-key", models=["fal/flux-schnell"])
    gateway = start([marketing(rate_limits={"requests_per_minute": 1}), design, OPS])
    sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(openai.RateLimitError):
            sdk(gateway).images.generate(**FOX)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway, key="ig-unknown").images.generate(**FOX)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        sdk(gateway, key="ig-design-key").images.generate(
            model="openai/gpt-image-2", prompt="a fox"
        )
    refusals = [line for line in metrics_of(gateway).splitlines() if "refusals_total{" in line]
    assert refusals == [
        'imagegate_refusals_total{tenant="",status="401",code="invalid_api_key"} 1',
        'imagegate_refusals_total{tenant="design",status="403",code="model_not_allowed"} 1',
        'imagegate_refusals_total{tenant="marketing",status="429",code="rate_limit_exceeded"} 2',
    ]


@pytest.fixture
def families(
    tmp_path: Path, fal_emulator: FalEmulator, replicate_emulator: ReplicateEmulator
) -> Iterator[str]:
    """The gateway in front of family flux-schnell on fal and Replicate, for tenant
    marketing allowed the family alone (and an open key)."""
    client = Client.from_policy(
        {
            "backends": [{"family": "flux-schnell", "providers": {"fal": {}, "replicate": {}}}],
            "state": {"path": str(tmp_path / "state.db")},
        },
        providers={
            "fal": fal_emulator.backend_config(),
            "replicate": replicate_emulator.backend_config(),
        },
    )
    tenants = [marketing(models=["flux-schnell"]), Tenant(name="open", key=OPS_KEY)]
    with serving(client, tenants=tenants, api_keys=(), clock=ManualClock()) as url:
        yield url


def test_a_family_is_a_model_the_gateway_lists_and_serves(
    families: str, fal_emulator: FalEmulator, replicate_emulator: ReplicateEmulator
) -> None:
    listed = [m.id for m in sdk(families, OPS_KEY).models.list()]
    assert listed[:2] == ["auto", "flux-schnell"]
    fal_emulator.faults.add("submit", Fault.unavailable(), times=4)
    response = sdk(families, OPS_KEY).images.generate(model="flux-schnell", prompt="a fox")
    imagegate = (response.model_extra or {})["imagegate"]
    assert imagegate["backend"] == "replicate/flux-schnell"
    assert "fell back from fal/flux-schnell: ProviderUnavailableError" in imagegate["route"]
    assert replicate_emulator.log.count("submit") == 1


def test_a_key_allowed_a_family_may_name_each_of_its_providers_and_nothing_else(
    families: str,
) -> None:
    response = sdk(families).images.generate(model="replicate/flux-schnell", prompt="a fox")
    assert (response.model_extra or {})["imagegate"]["backend"] == "replicate/flux-schnell"
    with pytest.raises(openai.PermissionDeniedError):
        sdk(families).images.generate(model="openai/gpt-image-2", prompt="a fox")


def test_a_tenant_listing_a_family_the_policy_does_not_enable_is_a_config_error(
    tmp_path: Path, fal_emulator: FalEmulator
) -> None:
    client = Client.from_policy(
        {"backends": [{"model": "fal/flux-schnell"}], "state": {"path": str(tmp_path / "s.db")}},
        providers={"fal": fal_emulator.backend_config()},
    )
    with pytest.raises(ConfigError, match=r"flux-2-pro not enabled .* families: flux-schnell"):
        create_app(client, tenants=[marketing(models=["flux-2-pro"])], api_keys=())
