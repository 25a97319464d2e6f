"""The sandbox ERP's chaos settings over the API (404 where the sandbox is not enabled)."""


from flask import Blueprint, Response, abort, current_app, g, jsonify, request

from webapp import audit
from webapp.api.responses import refuse
from webapp.extensions import db
from webapp.sandbox import chaos

bp = Blueprint("sandbox", __name__)


def require_sandbox() -> None:
    """Answer 404 where the sandbox ERP is not enabled: there are no chaos settings to read or change."""
    if not current_app.config["SANDBOX_ENABLED"]:
        abort(404)


@bp.get("/sandbox/settings")
def get_sandbox_settings() -> Response:
    """The sandbox ERP's chaos settings."""
    require_sandbox()
    return jsonify(chaos.settings_dict(chaos.load_settings()))


@bp.put("/sandbox/settings")
def put_sandbox_settings() -> tuple[Response, int]:
    """Change the sandbox ERP's chaos settings (JSON body with any of the fields)."""
    require_sandbox()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return refuse(400, "send a JSON object with the settings to change")
    settings, errors = chaos.update_settings(body, g.api_operator.username)
    if errors or settings is None:
        return refuse(400, "the settings were not accepted", details=errors)
    audit.record("sandbox_change", f"sandbox settings changed: {chaos.audit_text(settings)}", actor=g.api_operator)
    db.session.commit()
    return jsonify(chaos.settings_dict(settings)), 200
