"""The ERP client: keys go into ERP paths as one encoded segment, never as a path or query of their own."""

from typing import Any

import pytest
import requests
from flask import Flask

from webapp import erp_client
from webapp.erp_client import erp_path


@pytest.mark.parametrize(("key", "path"), [
    ("PO-100042", "/purchase-orders/PO-100042"),
    ("../../metrics?x=", "/purchase-orders/..%2F..%2Fmetrics%3Fx%3D"),
    ("a/b#c d%", "/purchase-orders/a%2Fb%23c%20d%25"),
    ("..", "/purchase-orders/%2E%2E"),
    ("PO-1\n", "/purchase-orders/PO-1%0A"),
])
def test_keys_are_one_encoded_segment(key: str, path: str) -> None:
    """Slashes, query and fragment marks, spaces, percent signs and dot segments are encoded."""
    assert erp_path("/purchase-orders/{}", key) == path


def test_the_request_goes_to_the_encoded_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """get_json requests exactly the encoded URL: requests neither decodes nor resolves it."""
    app = Flask(__name__)
    app.config.update(ERP_API_URL="http://erp.example/api/", ERP_TIMEOUT=1)
    sent: list[str] = []

    class Recorder(requests.Session):
        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            sent.append(request.url or "")
            response = requests.Response()
            response.status_code, response._content = 404, b"{}"
            return response

    monkeypatch.setattr(erp_client._local, "session", Recorder(), raising=False)
    with app.app_context(), pytest.raises(erp_client.PermanentError):
        erp_client.get_json(erp_path("/purchase-orders/{}", "../../metrics?x="), "the PO")
    assert sent == ["http://erp.example/api/purchase-orders/..%2F..%2Fmetrics%3Fx%3D"]
