"""Amazon Selling Partner API: shipment confirmations through order feeds or confirmShipment,
and the package status of its orders for the track-parcels flow (Orders 2026-01-01 getOrder).

    auth.py       LwaAuth: Login with Amazon refresh-token grant as an httpx.Auth
    client.py     SpApiClient: the SP-API calls with Amazon's usage plans, answers mapped onto
                  connectors.errors
    mapping.py    pure: marketplaces, carrier codes, feed XML, processing reports
    connector.py  AmazonConnector: the PortalConnector for the deliver flow
    package_status.py  pure: getOrder's packages[].packageStatus onto core.tracking
    tracking.py   AmazonTrackingClient: the tracking source, one getOrder per order

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
