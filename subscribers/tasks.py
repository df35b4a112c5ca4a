"""Background work on subscribers' definitions. Each task takes plain values and calls a service."""

from subscribers.indexes import number_field_index_sync


def sync_custom_field_index(key: str) -> bool:
    """After a number custom field is created or deleted: build or drop its expression index (concurrently)."""
    return number_field_index_sync(key)
