"""Rakuten.de (legacy): confirm shipments with the Shop-API method `orders/setOrderShipped`.

The Rakuten.de marketplace closed on 15 October 2020; the connector stays for old accounts and
archives and is off unless constructed with `enabled=True`.

The package root imports nothing so that `mapping` stays free of HTTP code.
"""
