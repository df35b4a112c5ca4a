from core.errors import ValidationFailed


class InvalidAudience(ValidationFailed):
    code = "INVALID_AUDIENCE"
    default_message = "Invalid audience data"
