"""Hood.de: confirm shipments through Hood's XML API (`updateOrderStatus`).

Hood publishes its API only as a PDF for registered sellers; the order-status request is not
publicly documented. Everything assumed about it lives in one table,
`connectors.hood.mapping.UNVERIFIED_ORDER_STATUS_SHAPE`; see README.md in this folder.

The package root imports nothing so that `mapping` stays free of HTTP code.
"""
