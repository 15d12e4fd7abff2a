"""Fixtures shared by the test modules. Test utilities live in the ``helpers`` package."""

from helpers.httpserver import http_server  # noqa: F401 - a local HTTP file server, as a fixture
