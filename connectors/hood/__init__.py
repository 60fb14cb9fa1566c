"""Hood.de: confirm shipments through Hood's XML API (`updateOrderStatus`).

Hood publishes its API only as a PDF for registered sellers; the order-status request is not
publicly documented. Everything assumed about it lives in one table,
`connectors.hood.mapping.UNVERIFIED_ORDER_STATUS_SHAPE`; see README.md in this folder.

    auth.py       HoodCredentials: account name and the MD5 of the API password
    client.py     HoodClient: one POST of an XML body, answers mapped onto connectors.errors
    mapping.py    pure: request XML, answer parsing, results
    connector.py  HoodConnector: the PortalConnector for the deliver flow

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
