"""OTTO Market: shipment confirmation through the Shipments API v1 (synchronous).

One `POST /v1/shipments` per parcel: carrier, tracking number, ship date, ship-from address and
the parcel's position items, each with the return label's tracking number. A shipment marks
its position items SENT on OTTO. Facts and their sources: README.md in this folder.

    auth.py       OttoAuth: OAuth2 client-credentials bearer tokens as an httpx.Auth
    client.py     OttoClient: the HTTP calls, answers mapped onto connectors.errors
    mapping.py    pure: carrier codes, the shipment payload, pre-submit checks, error bodies
    connector.py  OttoConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
