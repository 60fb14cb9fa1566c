"""Kaufland: shipment confirmation through the Seller API v2 (synchronous).

Order units (one per purchased piece) are marked sent with `PATCH /order-units/{id}/send`;
parcels added after that go through `POST /shipments`. Every request is HMAC-signed.

    auth.py       KauflandAuth: the Shop-* signature headers as an httpx.Auth
    client.py     KauflandClient: the HTTP calls, answers mapped onto connectors.errors
    mapping.py    pure: carrier codes, payloads, unit status decisions, error bodies
    connector.py  KauflandConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
