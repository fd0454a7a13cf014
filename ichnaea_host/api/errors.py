"""The API's error responses, byte-compatible with the original service."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Max-Age": "2592000",
}


class APIError(Exception):
    code = 500
    domain = "global"
    reason = "internalError"
    message = "Internal Error"

    def __init__(self, details: dict[str, Any] | None = None) -> None:
        super().__init__(self.reason)
        self.details = details

    def json_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "error": {
                "errors": [{"domain": self.domain, "reason": self.reason,
                            "message": self.message}],
                "code": self.code,
                "message": self.message,
            }
        }
        if self.details:
            body["details"] = self.details
        return body

    def response(self) -> Response:
        return Response(json.dumps(self.json_body()), status=self.code,
                        mimetype="application/json", headers=CORS_HEADERS)


class InvalidAPIKey(APIError):
    code = 400
    domain = "usageLimits"
    reason = "keyInvalid"
    message = "Missing or invalid API key."


class DailyLimitExceeded(APIError):
    code = 403
    domain = "usageLimits"
    reason = "dailyLimitExceeded"
    message = "You have exceeded your daily limit."


class RateLimitExceeded(APIError):
    """Too many geolocate requests in a window (the anti-enumeration limits);
    ``Retry-After`` says when the window ends."""

    code = 429
    domain = "usageLimits"
    reason = "userRateLimitExceeded"
    message = "You have exceeded your rate limit."

    def __init__(self, retry_after: int = 60) -> None:
        super().__init__()
        self.retry_after = retry_after

    def response(self) -> Response:
        response = super().response()
        response.headers["Retry-After"] = str(self.retry_after)
        return response


class ParseError(APIError):
    code = 400
    domain = "global"
    reason = "parseError"
    message = "Parse Error"


class RequestTooLarge(APIError):
    """A body over the size limit, as sent or once decompressed (413). The
    original had no limit; the shape is the API's, ``details.decode`` says
    which limit."""

    code = 413
    domain = "global"
    reason = "requestEntityTooLarge"
    message = "Request Entity Too Large"


class LocationNotFound(APIError):
    code = 404
    domain = "geolocation"
    reason = "notFound"
    message = "Not found"


class ServiceUnavailable(APIError):
    code = 503
    domain = "global"
    reason = "serviceUnavailable"
    message = "Service Unavailable"
