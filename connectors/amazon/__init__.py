"""Amazon Selling Partner API: shipment confirmations through order feeds or confirmShipment."""

from connectors.amazon.auth import LwaAuth
from connectors.amazon.client import Limit, RateLimits, SpApiClient
from connectors.amazon.connector import AmazonConnector
from connectors.amazon.mapping import (
    MARKETPLACES,
    REGIONS,
    endpoint_for_marketplace,
    resolve_marketplace,
)

__all__ = [
    "MARKETPLACES",
    "REGIONS",
    "AmazonConnector",
    "Limit",
    "LwaAuth",
    "RateLimits",
    "SpApiClient",
    "endpoint_for_marketplace",
    "resolve_marketplace",
]
