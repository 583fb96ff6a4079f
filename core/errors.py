"""Expected failures raised by services; the GraphQL layer turns each into a typed result."""


class DomainError(Exception):
    """A failure the caller can act on; its message is shown to them as is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(DomainError):
    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(f"{entity} {entity_id} does not exist")
        self.entity = entity
        self.entity_id = str(entity_id)


class PermissionDeniedError(DomainError):
    def __init__(self, action: str, scope: str) -> None:
        super().__init__(f"not allowed to {action} in {scope}")
        self.action = action
        self.scope = scope
