from core.errors import ApplicationError, Conflict


class InvalidImportFile(ApplicationError):
    """A file that cannot be imported: unreachable, refused address, too large, not CSV or XLSX, malformed."""

    code = "INVALID_IMPORT_FILE"
    default_message = "The import file cannot be read"


class JobAlreadyProcessing(Conflict):
    code = "JOB_ALREADY_PROCESSING"
    default_message = "An import into this list is already running"
