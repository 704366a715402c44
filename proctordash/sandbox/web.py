"""Small HTTP pieces shared by the sandbox's two APIs: responses, query parsing, error bodies."""

from __future__ import annotations

import json
from http import HTTPStatus
from urllib.parse import parse_qsl

JSON = "application/json; charset=utf-8"


class Response:
    __slots__ = ("status", "body", "headers", "content_type", "truncate")

    def __init__(self, status: int, body: bytes = b"", *, headers: list | None = None, content_type: str = JSON):
        self.status = status
        self.body = body
        self.headers = headers or []
        self.content_type = content_type
        self.truncate = False


def json_response(status: int, obj, headers: list | None = None) -> Response:
    return Response(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(), headers=headers)


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


class Invalid(Exception):
    """A request parameter failed validation (SmarterProctoring answers it hapi/Joi style)."""

    def __init__(self, key: str, message: str, source: str):
        super().__init__(message)
        self.key = key
        self.message = message
        self.source = source


def sp_error(status: int, message: str, *, key: str | None = None, source: str | None = None) -> Response:
    body = {"statusCode": status, "error": HTTPStatus(status).phrase, "message": message}
    if key is not None:
        body["validation"] = {"source": source, "keys": [key]}
    return json_response(status, body)


def sp_invalid(error: Invalid) -> Response:
    return sp_error(400, error.message, key=error.key, source=error.source)


def pe_error(status: int, message: str, *, param: str | None = None) -> Response:
    body = {"error": message}
    if param is not None:
        body["param"] = param
    return json_response(status, body)


PE_FORBIDDEN = "You are not authorized to access this page."


def query_pairs(environ) -> list[tuple[str, str]]:
    """The query string as (name, value) pairs in order, values decoded (`+` and %XX)."""
    return parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def query_multi(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        out.setdefault(name, []).append(value)
    return out


def read_body(environ, limit: int = 1_000_000) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    return environ["wsgi.input"].read(min(length, limit))


def base_url(environ) -> str:
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}"
    return f"{environ.get('wsgi.url_scheme', 'http')}://{host}"
