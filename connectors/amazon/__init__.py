"""Amazon Selling Partner API: shipment confirmations through order feeds or confirmShipment.

    auth.py       LwaAuth: Login with Amazon refresh-token grant as an httpx.Auth
    client.py     SpApiClient: the SP-API calls with Amazon's usage plans, answers mapped onto
                  connectors.errors
    mapping.py    pure: marketplaces, carrier codes, feed XML, processing reports
    connector.py  AmazonConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
