"""Optimistic concurrency: every change bumps `version` and sets `updated_at`; a writer that names an older
version than the stored one gets VERSION_CONFLICT and changes nothing."""

from typing import TypeVar

from django.db import models
from django.utils import timezone

from core.errors import VersionConflict
from core.models import PublicModel

T = TypeVar("T", bound=PublicModel)


def lock_for_change(instance: T, *, expected_version: int | None) -> T:
    """Re-read the row under a lock (inside a transaction) and check the caller's version against it."""
    locked = type(instance).objects.select_for_update().get(pk=instance.pk)
    if expected_version is not None and expected_version != locked.version:
        raise VersionConflict(
            f"Version {expected_version} is not the current version {locked.version}; reload and try again"
        )
    return locked


def mark_changed(instance: PublicModel, changed_fields: list[str]) -> None:
    """Save `changed_fields` with the version bump and timestamp, and nothing else (no lost columns under a race)."""
    instance.version += 1
    instance.updated_at = timezone.now()
    instance.save(update_fields=[*changed_fields, "version", "updated_at"])


def touch(model: type[models.Model], pk: int) -> None:
    """Bump the version of a row whose related data (memberships, consent) changed."""
    model.objects.filter(pk=pk).update(version=models.F("version") + 1, updated_at=timezone.now())
