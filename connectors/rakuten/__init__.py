"""Rakuten.de (legacy): confirm shipments with the Shop-API method `orders/setOrderShipped`.

The Rakuten.de marketplace closed on 15 October 2020; the connector stays for old accounts and
archives and is off unless constructed with `enabled=True`.

    auth.py       RakutenCredentials: the merchant key (POST body only, never in URLs)
    client.py     RakutenClient: one form POST per call, answers mapped onto connectors.errors
    mapping.py    pure: parameters, answer parsing, the read-back after 3710, results
    connector.py  RakutenConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
