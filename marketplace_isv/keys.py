"""Which keys may verify a call, in the order they are tried (koogallery-protocol.md §1.4).

Each key carries a name for the journal; the key itself is never stored or logged.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class Key:
    name: str
    secret: str

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Key({self.name!r})"


def _dedupe(keys: list[Key]) -> tuple[Key, ...]:
    seen: set[str] = set()
    ordered = []
    for key in keys:
        if key.secret and key.secret not in seen:
            seen.add(key.secret)
            ordered.append(key)
    return tuple(ordered)


def _previous() -> list[Key]:
    return [Key(f"previous#{i}", s) for i, s in enumerate(settings.KOOGALLERY_PREVIOUS_ACCESS_KEYS, 1)]


def basic_keys() -> tuple[Key, ...]:
    """Basic, License and notification calls: the access key, the extra keys, then old keys."""
    return _dedupe(
        [
            Key("access", settings.KOOGALLERY_ACCESS_KEY),
            Key("license", settings.KOOGALLERY_LICENSE_ACCESS_KEY),
            Key("notify", settings.KOOGALLERY_NOTIFY_ACCESS_KEY),
            *_previous(),
        ]
    )


def kit_keys() -> tuple[Key, ...]:
    """Kit calls: the Kit key, old keys, then the access key (V1 sellers had a single key)."""
    return _dedupe(
        [
            Key("kit", settings.KOOGALLERY_KIT_ACCESS_KEY),
            *_previous(),
            Key("access", settings.KOOGALLERY_ACCESS_KEY),
        ]
    )


def primary_basic() -> Key:
    return Key("access", settings.KOOGALLERY_ACCESS_KEY)


def primary_kit() -> Key:
    return Key("kit", settings.KOOGALLERY_KIT_ACCESS_KEY)
