"""WSGI entry point: ``gunicorn wsgi:app``."""

from entryfy import create_app

app = create_app()
