"""The API's error answers: one shape, ``{"error": code, "message": text}``, never a stack trace."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details or {}

    def body(self) -> dict:
        return {"error": self.code, "message": self.message, **self.details}


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Unavailable(ApiError):
    """The database (or a dependency) cannot answer now; retrying later may work."""

    status = 503
    code = "database_unavailable"
