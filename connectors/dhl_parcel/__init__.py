"""DHL Parcel DE Shipping v2: the daily closing (manifests) and its PDF."""

from connectors.dhl_parcel.auth import DhlBasicAuth, DhlPasswordGrantAuth, auth_from_env
from connectors.dhl_parcel.connector import DhlParcelClient
from connectors.dhl_parcel.mapping import (
    PRODUCTION,
    SANDBOX,
    ManifestDocument,
    ManifestedShipment,
    ManifestItem,
    ManifestResult,
    ManifestSheet,
)

__all__ = [
    "PRODUCTION",
    "SANDBOX",
    "DhlBasicAuth",
    "DhlParcelClient",
    "DhlPasswordGrantAuth",
    "ManifestDocument",
    "ManifestItem",
    "ManifestResult",
    "ManifestSheet",
    "ManifestedShipment",
    "auth_from_env",
]
