"""The portal's error: ``{"error": CODE, "error_description": TEXT}`` with an HTTP status."""

from __future__ import annotations

from typing import Any


class RestError(Exception):
    """Raised by handlers; the server turns it into the portal's error envelope."""

    def __init__(self, code: str, description: str, status: int = 400, **extra: Any) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description, **self.extra}


def method_not_found() -> RestError:
    return RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def not_found() -> RestError:
    """Classic CRM get/update/delete of a missing id (error code is an empty string)."""
    return RestError("", "Not found", 400)


def invalid_id() -> RestError:
    return RestError("", "ID is not defined or invalid.", 400)


def must_be_array(name: str) -> RestError:
    return RestError("", f"Parameter '{name}' must be array.", 400)
