"""Job pages: launch, detail, live fragments, record detail."""

from flask import Blueprint

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
