"""The sandbox ERP: deterministic data, failure injection, its own app apart from the console, and
the console's settings page."""

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from devtools.ports import free_port
from devtools.waiting import wait_for
from webapp.app import create_app
from webapp.extensions import db
from webapp.models import ApiToken, Operator, SandboxSettings
from webapp.sandbox import chaos, data
from webapp.sandbox.app import create_sandbox_app

API = "/sandbox/api"
ENDPOINTS = [f"{API}/purchase-orders?status=pending", f"{API}/purchase-orders/PO-100003", f"{API}/products?limit=5", f"{API}/boms/P-10003"]


@pytest.fixture
def console_app(tmp_path: Path) -> Iterator[Flask]:
    """The console on a fresh SQLite file of its own (no shared state with other test modules)."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'sandbox.db'}",
            "SECRET_KEY": "test",
            "WTF_CSRF_ENABLED": False,
            "SANDBOX_ENABLED": True,
            "SANDBOX_TIMEOUT_SLEEP": 0.2,
        }
    )
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def sandbox_app(console_app: Flask) -> Iterator[Flask]:
    """The sandbox ERP's own app, on the console's database (as its own process would be)."""
    app = create_sandbox_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": console_app.config["SQLALCHEMY_DATABASE_URI"],
            "SANDBOX_ENABLED": True,
            "SANDBOX_TIMEOUT_SLEEP": 0.2,
        }
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def api_client(sandbox_app: Flask) -> FlaskClient:
    """An anonymous client of the sandbox ERP: its API needs no login."""
    return sandbox_app.test_client()


@pytest.fixture
def operator_client(console_app: Flask) -> FlaskClient:
    """A console client logged in as the admin "ada"."""
    with console_app.app_context():
        operator = Operator(username="ada", role="admin")  # the sandbox settings are an admin's to change
        operator.set_password("lovelace")
        db.session.add(operator)
        db.session.commit()
    client = console_app.test_client()
    response = client.post("/login", data={"username": "ada", "password": "lovelace"})
    assert response.status_code == 302
    return client


def set_chaos(sandbox_app: Flask, **values: Any) -> None:
    """Save chaos settings directly, failing the test if they are rejected."""
    with sandbox_app.app_context():
        saved, errors = chaos.update_settings(values, "test")
        assert errors == {} and saved is not None


def stored_settings(sandbox_app: Flask) -> dict[str, Any]:
    """The settings row as read from the database, bypassing the cache."""
    with sandbox_app.app_context():
        return chaos.settings_dict(chaos.settings_row())


def test_purchase_order_is_deterministic_and_totals_add_up(api_client: FlaskClient) -> None:
    first = api_client.get(f"{API}/purchase-orders/PO-101234")
    second = api_client.get(f"{API}/purchase-orders/PO-101234")
    assert first.status_code == 200 and first.json == second.json
    order = first.json
    assert order["po_number"] == "PO-101234" and order["status"] == "approved"
    assert order["currency"] in {"USD", "EUR", "GBP"} and order["order_date"].startswith("2026-")
    assert set(order["supplier"]) == {"code", "name"} and order["supplier"]["name"]
    assert 1 <= len(order["lines"]) <= 8
    assert [line["line_no"] for line in order["lines"]] == list(range(1, len(order["lines"]) + 1))
    assert all(type(line["quantity"]) is int and type(line["unit_price_cents"]) is int for line in order["lines"])
    assert order["total_cents"] == sum(line["quantity"] * line["unit_price_cents"] for line in order["lines"])


def test_every_purchase_order_is_well_formed_and_they_differ() -> None:
    orders = [data.purchase_order(f"PO-{n}") for n in range(100_000, 102_000)]
    assert all(order is not None for order in orders)
    assert all(o["total_cents"] == sum(li["quantity"] * li["unit_price_cents"] for li in o["lines"]) for o in orders)
    assert all(1 <= len(o["lines"]) <= 8 and o["total_cents"] > 0 for o in orders)
    distinct = {(o["supplier"]["code"], o["order_date"], o["total_cents"]) for o in orders}
    assert len(distinct) >= 1_000
    assert {o["currency"] for o in orders} == {"USD", "EUR", "GBP"}


@pytest.mark.parametrize(
    "po_number", ["PO-099999", "PO-102000", "PO-10000", "PO-1000000", "po-100000", "XX-100000", "PO-100000\n", "PO-١٠٠٠٠٠"]
)
def test_unknown_or_malformed_po_is_404(api_client: FlaskClient, po_number: str) -> None:
    response = api_client.get(f"{API}/purchase-orders/{quote(po_number)}")
    assert response.status_code == 404
    assert response.json == {"error": f"purchase order {po_number} not found"}


def test_bill_of_materials_is_deterministic(api_client: FlaskClient) -> None:
    first = api_client.get(f"{API}/boms/P-10042")
    assert first.status_code == 200 and first.json == api_client.get(f"{API}/boms/P-10042").json
    bom = first.json
    assert bom["product_code"] == "P-10042" and bom["unit"] == "ea" and bom["name"]
    assert 2 <= len(bom["components"]) <= 8
    codes = [component["component_code"] for component in bom["components"]]
    assert len(set(codes)) == len(codes) and all(code.startswith("C-") and len(code) == 7 for code in codes)
    assert all(type(component["quantity"]) is int and component["quantity"] > 0 for component in bom["components"])


def test_at_least_500_boms_exist(api_client: FlaskClient) -> None:
    codes = api_client.get(f"{API}/products").json["products"]
    assert len(codes) == 5_000 and codes == sorted(codes)
    boms = [data.bill_of_materials(code) for code in codes]
    assert all(bom is not None and 2 <= len(bom["components"]) <= 8 for bom in boms)
    assert len({tuple(c["component_code"] for c in bom["components"]) for bom in boms}) >= 500


@pytest.mark.parametrize("product_code", ["P-09999", "P-15000", "P-1000", "p-10000", "C-10000", "P-100000", " P-10000"])
def test_unknown_or_malformed_product_is_404(api_client: FlaskClient, product_code: str) -> None:
    assert api_client.get(f"{API}/boms/{quote(product_code)}").status_code == 404


def test_pending_list_is_sorted_valid_and_limited(api_client: FlaskClient) -> None:
    pending = api_client.get(f"{API}/purchase-orders?status=pending").json["purchase_orders"]
    assert 250 <= len(pending) <= 320 and pending == sorted(pending)
    assert all(data.purchase_order(number) is not None for number in pending)
    assert len(pending) < 2_000  # a subset, not every PO
    limited = api_client.get(f"{API}/purchase-orders?status=pending&limit=10").json["purchase_orders"]
    assert limited == pending[:10]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "10001", "99999999999", ""])
@pytest.mark.parametrize("path", ["purchase-orders", "products"])
def test_bad_limit_is_400_naming_the_parameter(api_client: FlaskClient, path: str, limit: str) -> None:
    response = api_client.get(f"{API}/{path}?limit={limit}")
    assert response.status_code == 400 and "limit" in response.json["error"]


def test_unknown_status_is_400(api_client: FlaskClient) -> None:
    response = api_client.get(f"{API}/purchase-orders?status=closed")
    assert response.status_code == 400 and "status" in response.json["error"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_error_rate_one_fails_every_call_with_5xx(sandbox_app: Flask, api_client: FlaskClient, url: str) -> None:
    set_chaos(sandbox_app, error_rate=1)
    responses = [api_client.get(url) for _ in range(20)]
    assert {r.status_code for r in responses} <= {500, 502, 503}
    assert all(r.json == {"error": "upstream unavailable"} for r in responses)


@pytest.mark.parametrize("url", ENDPOINTS)
def test_throttle_rate_one_answers_429_with_retry_after(sandbox_app: Flask, api_client: FlaskClient, url: str) -> None:
    set_chaos(sandbox_app, throttle_rate=1, retry_after_s=7)
    response = api_client.get(url)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_timeout_rate_one_hangs_then_answers_504(sandbox_app: Flask, api_client: FlaskClient) -> None:
    set_chaos(sandbox_app, timeout_rate=1)
    started = time.perf_counter()
    response = api_client.get(f"{API}/purchase-orders/PO-100001")
    assert response.status_code == 504 and time.perf_counter() - started >= 0.2


def test_latency_is_applied(sandbox_app: Flask, api_client: FlaskClient) -> None:
    set_chaos(sandbox_app, latency_ms=150)
    started = time.perf_counter()
    response = api_client.get(f"{API}/boms/P-10000")
    assert response.status_code == 200 and time.perf_counter() - started >= 0.15


@pytest.mark.parametrize("error_rate", [0, 1])
def test_missing_keys_are_always_404(sandbox_app: Flask, api_client: FlaskClient, error_rate: int) -> None:
    set_chaos(sandbox_app, missing_keys="po-100001, P-10002", error_rate=error_rate)
    for url in (f"{API}/purchase-orders/PO-100001", f"{API}/boms/P-10002"):
        assert [api_client.get(url).status_code for _ in range(5)] == [404] * 5
    other = api_client.get(f"{API}/purchase-orders/PO-100002").status_code
    assert other in ({200} if error_rate == 0 else {500, 502, 503})


def test_calm_sandbox_answers_200(api_client: FlaskClient) -> None:
    assert [api_client.get(url).status_code for url in ENDPOINTS] == [200] * len(ENDPOINTS)


def test_settings_are_cached_but_saves_take_effect_at_once(sandbox_app: Flask) -> None:
    with sandbox_app.app_context():
        assert chaos.load_settings() is chaos.load_settings()
        row = db.session.get(SandboxSettings, chaos.SETTINGS_ID)
        row.latency_ms = 1234  # written behind the cache's back
        db.session.commit()
        assert chaos.load_settings().latency_ms == 0
        chaos.update_settings({"latency_ms": 5}, "test")
        assert chaos.load_settings().latency_ms == 5


def test_settings_cache_expires(sandbox_app: Flask) -> None:
    sandbox_app.config["SANDBOX_SETTINGS_TTL"] = 0
    with sandbox_app.app_context():
        chaos.load_settings()
        db.session.get(SandboxSettings, chaos.SETTINGS_ID).latency_ms = 77
        db.session.commit()
        assert chaos.load_settings().latency_ms == 77


def test_missing_keys_are_normalised(sandbox_app: Flask) -> None:
    set_chaos(sandbox_app, missing_keys=" po-100002, PO-100001\n\nP-10000  po-100002 ")
    assert stored_settings(sandbox_app)["missing_keys"] == ["P-10000", "PO-100001", "PO-100002"]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"latency_ms": "abc"}, "latency_ms"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": "30001"}, "latency_ms"),
        ({"error_rate": "1.5"}, "error_rate"),
        ({"timeout_rate": "-0.1"}, "timeout_rate"),
        ({"throttle_rate": "nan"}, "throttle_rate"),
        ({"error_rate": True}, "error_rate"),
        ({"error_rate": "0.6", "timeout_rate": "0.3", "throttle_rate": "0.2"}, "error_rate"),
        ({"error_rate": "0.6", "timeout_rate": "0.3", "throttle_rate": "0.2"}, "throttle_rate"),
        ({"retry_after_s": "601"}, "retry_after_s"),
        ({"retry_after_s": "2.5"}, "retry_after_s"),
        ({"missing_keys": "PO-100001 " * 1_001}, "missing_keys"),
        ({"missing_keys": 42}, "missing_keys"),
    ],
)
def test_invalid_settings_are_rejected_and_nothing_saved(sandbox_app: Flask, values: dict[str, Any], field: str) -> None:
    set_chaos(sandbox_app, latency_ms=10, error_rate=0.1)
    before = stored_settings(sandbox_app)
    with sandbox_app.app_context():
        saved, errors = chaos.update_settings({"latency_ms": 20, **values}, "mallory")
    assert saved is None and field in errors
    assert len(errors[field].split()) >= 4  # a sentence, not a code
    assert stored_settings(sandbox_app) == before


def test_settings_page_requires_login(console_app: Flask) -> None:
    anonymous = console_app.test_client()
    page = anonymous.get("/sandbox/settings")
    save = anonymous.post("/sandbox/settings", data={"latency_ms": "5"})
    for response in (page, save):
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    reset = anonymous.post("/sandbox/settings/reset")
    assert reset.status_code == 302 and "/login" in reset.headers["Location"]


def test_settings_page_shows_current_values(console_app: Flask, operator_client: FlaskClient) -> None:
    set_chaos(console_app, latency_ms=321, missing_keys="PO-100001")
    page = operator_client.get("/sandbox/settings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="latency_ms"' in html and 'value="321"' in html and "PO-100001" in html
    assert html.count('name="csrf_token"') >= 2 and "Reset to calm" in html
    assert "Last changed by <strong>test</strong>" in html


def test_settings_post_saves_and_shows(console_app: Flask, operator_client: FlaskClient) -> None:
    form = {
        "latency_ms": "250",
        "error_rate": "0.1",
        "timeout_rate": "0",
        "throttle_rate": "0.2",
        "retry_after_s": "9",
        "missing_keys": "PO-100005\nP-10001",
    }
    response = operator_client.post("/sandbox/settings", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/sandbox/settings")
    stored = stored_settings(console_app)
    assert stored["latency_ms"] == 250 and stored["throttle_rate"] == 0.2 and stored["updated_by"] == "ada"
    assert stored["missing_keys"] == ["P-10001", "PO-100005"]
    html = operator_client.get("/sandbox/settings").get_data(as_text=True)
    assert "Sandbox settings saved" in html and 'value="250"' in html and "Last changed by <strong>ada</strong>" in html


def test_settings_post_with_errors_rerenders_400(console_app: Flask, operator_client: FlaskClient) -> None:
    before = stored_settings(console_app)
    response = operator_client.post("/sandbox/settings", data={"latency_ms": "soon", "error_rate": "2"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Latency must be a whole number" in html and "Error rate must be a number" in html
    assert 'value="soon"' in html  # what the operator typed is kept
    assert stored_settings(console_app) == before


def test_reset_to_calm(console_app: Flask, operator_client: FlaskClient) -> None:
    set_chaos(console_app, latency_ms=500, error_rate=0.5, throttle_rate=0.5, retry_after_s=30, missing_keys="PO-100001")
    response = operator_client.post("/sandbox/settings/reset")
    assert response.status_code == 302
    stored = stored_settings(console_app)
    assert {k: stored[k] for k in chaos.CALM} == {**chaos.CALM, "missing_keys": []}
    assert stored["updated_by"] == "ada"


def test_sandbox_refuses_to_start_unless_enabled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Its API answers anyone without a login, so the sandbox's process starts only where enabled."""
    monkeypatch.delenv("SANDBOX_ENABLED", raising=False)
    with pytest.raises(RuntimeError, match="SANDBOX_ENABLED is not set"):
        create_sandbox_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}"})


@pytest.mark.parametrize("path", ["/sandbox/settings", "/login", "/", "/api/sandbox/settings"])
def test_sandbox_serves_its_api_and_no_page(api_client: FlaskClient, path: str) -> None:
    """The sandbox's process has no login and no pages: the settings page and /login are not there."""
    assert api_client.get(f"{API}/purchase-orders/PO-100003").status_code == 200
    response = api_client.get(path)
    assert response.status_code == 404 and response.json["error"] == "Not Found"


def test_console_never_serves_the_erp_api(console_app: Flask, operator_client: FlaskClient) -> None:
    """The console's web process does not answer the ERP API, logged in or not: it runs apart."""
    for client in (console_app.test_client(), operator_client):
        assert [client.get(url).status_code for url in ENDPOINTS] == [404] * len(ENDPOINTS)


def test_console_without_the_sandbox_has_no_chaos_settings(tmp_path: Path) -> None:
    """With SANDBOX_ENABLED off, the settings page, its API and its link are absent."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'off.db'}",
            "SECRET_KEY": "test",
            "WTF_CSRF_ENABLED": False,
            "SANDBOX_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        operator = Operator(username="ada", role="admin")  # the sandbox settings are an admin's to change
        operator.set_password("lovelace")
        db.session.add(operator)
        db.session.commit()
        row, token = ApiToken.issue(operator)
        db.session.add(row)
        db.session.commit()
    client = app.test_client()
    assert client.post("/login", data={"username": "ada", "password": "lovelace"}).status_code == 302
    assert client.get("/sandbox/settings").status_code == 404
    assert client.post("/sandbox/settings", data={"latency_ms": "5"}).status_code == 404
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/sandbox/settings", headers=bearer).status_code == 404
    assert client.put("/api/sandbox/settings", json={"latency_ms": 5}, headers=bearer).status_code == 404
    dashboard = client.get("/").get_data(as_text=True)
    assert "Workers" in dashboard and "Sandbox ERP" not in dashboard
    with app.app_context():
        db.engine.dispose()


def test_console_with_the_sandbox_links_its_settings(operator_client: FlaskClient) -> None:
    """With SANDBOX_ENABLED on, the console's navigation links the settings page."""
    assert 'href="/sandbox/settings">Sandbox ERP</a>' in operator_client.get("/").get_data(as_text=True)


class EndTimes:
    """WSGI middleware noting when the app finished each request (monotonic seconds)."""

    def __init__(self, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner
        self.ended: list[float] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return self.inner(environ, start_response)
        finally:
            self.ended.append(time.monotonic())


@pytest.mark.parametrize("chaos_settings", [{"timeout_rate": 1}, {"latency_ms": 30_000}], ids=["timeout", "latency"])
def test_a_held_call_ends_when_its_caller_hangs_up(sandbox_app: Flask, chaos_settings: dict[str, Any]) -> None:
    """A caller that gives up (the fetch step's ERP_TIMEOUT) frees the sandbox's thread at once,
    not after the 30 s the chaos would hold it."""
    sandbox_app.config["SANDBOX_TIMEOUT_SLEEP"] = 30
    set_chaos(sandbox_app, **chaos_settings)
    ends = EndTimes(sandbox_app.wsgi_app)
    sandbox_app.wsgi_app = ends  # type: ignore[method-assign]
    server = make_server("127.0.0.1", free_port(), sandbox_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}{API}/purchase-orders/PO-100003"
        with pytest.raises(requests.Timeout):
            requests.get(url, timeout=0.5)
        gave_up = time.monotonic()
        wait_for(lambda: ends.ended, timeout=10, interval=0.05, message="the sandbox to drop the call")
        assert ends.ended[0] - gave_up < 1.0
    finally:
        server.shutdown()
