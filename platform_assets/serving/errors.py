"""Errors a request can meet, each with the HTTP status and title the API answers with
(application/problem+json, api/problems.py) and a detail saying what to do about it."""


class ServingError(Exception):
    status = 500
    title = "Serving error"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class UnknownSeries(ServingError):
    status, title = 404, "Unknown series"


class InvalidRequest(ServingError):
    status, title = 422, "Invalid request"


class StaleCursor(ServingError):
    status, title = 409, "Cursor from another bundle"


class NotReady(ServingError):
    status, title = 503, "No bundle loaded"


class WhatIfUnavailable(ServingError):
    status, title = 503, "What-if unavailable for this bundle"
