"""eBay: shipment confirmation through the Sell Fulfillment API v1 (synchronous).

One shipping fulfillment per parcel (`POST /order/{orderId}/shipping_fulfillment`), authorised
with the seller's OAuth refresh token. Every parcel is read back first so that a retry never
creates a second fulfillment.

    auth.py       EbayAuth: refresh-token grant as an httpx.Auth, cached access token
    client.py     EbayClient: the HTTP calls, answers mapped onto connectors.errors
    mapping.py    pure: carrier codes, payloads, error envelopes, read-back matching
    connector.py  EbayConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
