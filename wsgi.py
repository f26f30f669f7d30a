"""WSGI entry point: ``gunicorn wsgi:app``."""

from entryfy import create_app
from entryfy.app import freeze_startup_heap

app = create_app()
freeze_startup_heap()  # the app's own objects: out of the full collection's walk
