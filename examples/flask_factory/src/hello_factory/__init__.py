"""pydeploy.web example: an app factory, served as app_wsgi "hello_factory:create_app()"."""

import os

from flask import Flask


def create_app(config=None):
    app = Flask(__name__)
    app.config.update(config or {})

    @app.get("/")
    def index():
        return f"{os.environ.get('GREETING', 'Hello')} from the hello_factory app\n"

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    return app
