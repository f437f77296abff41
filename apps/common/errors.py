"""Domain errors: raised by services and selectors, turned into HTTP 400/404/409 by the API layer
and into CommandError by management commands. The message is for a person and names the problem."""


class DomainError(Exception):
    """A request that breaks a business rule. `field` names the input at fault when there is one."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code

    def as_dict(self) -> dict:
        body = {"error": self.message, "code": self.code}
        if self.field:
            body["field"] = self.field
        return body


class NotFound(DomainError):
    status = 404

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, code="not_found")


class Conflict(DomainError):
    """Someone else changed the thing first (a race or a stale edit). Nothing was written."""

    status = 409

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, code="conflict")
