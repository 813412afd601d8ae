"""WSGI entry for gunicorn: `gunicorn wsgi:app`."""

from suite_server import create_app

app = create_app()
