"""DHL Parcel DE Tracking (Sendungsverfolgung Post & Paket Deutschland): parcel status.

    auth.py       DhlTrackingAuth (httpx.Auth): the DHL-API-Key header plus Basic key:secret
    client.py     TrackingApi: one `GET /shipments?xml=…` call, answers mapped onto
                  connectors.errors
    mapping.py    pure: the `d-get-piece-detail` request XML, the answer, DHL's event codes
                  onto core.tracking.DeliveryStatus
    connector.py  DhlTrackingClient: `from_account`, `track(numbers)` in calls of 15

Callers import from the modules; the package root imports nothing.
"""
