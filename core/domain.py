"""The words of the domain (DESIGN: Words) as types shared by every layer."""

from __future__ import annotations

from enum import StrEnum


class Portal(StrEnum):
    AMAZON = "amazon"
    EBAY = "ebay"
    KAUFLAND = "kaufland"
    HOOD = "hood"
    RAKUTEN = "rakuten"
    OTTO = "otto"
    SHOP = "shop"  # the seller's own shop: nobody to confirm to


class OrderStatus(StrEnum):
    OPEN = "open"
    SHIPPED = "shipped"
    ARRIVED = "arrived"
    CANCELLED = "cancelled"


class MailStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class ConfirmationStatus(StrEnum):
    PENDING = "pending"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    FAILED = "failed"
    SKIPPED = "skipped"  # not told, by policy (account option, one tracking number per order)
    HELD = "held"  # not told yet: waits for the shipping mail (core/confirmation_gate.py)


GERMAN_SPEAKING_COUNTRIES = frozenset({"DE", "AT", "CH", "LI"})


def default_language(country: str) -> str:
    """DE/AT/CH (and the other German-speaking countries) get German, everyone else English."""
    return "de" if country.upper() in GERMAN_SPEAKING_COUNTRIES else "en"
