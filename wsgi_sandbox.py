"""Entry point of the sandbox ERP's own process (gunicorn wsgi_sandbox:app; Procfile line ``sandbox``)."""

from webapp.sandbox.app import create_sandbox_app

app = create_sandbox_app()
