"""DHL Parcel DE Shipping v2: the daily closing (manifests) and its PDF.

    auth.py       DhlBasicAuth / DhlPasswordGrantAuth (httpx.Auth), auth_for (credentials)
    client.py     ShippingApi: the manifest calls, answers mapped onto connectors.errors
    mapping.py    pure: manifest requests and results, DHL's problem bodies
    connector.py  DhlParcelClient: close the day, fetch the manifest; from_account

Callers import from the modules; the package root imports nothing, so that `mapping` stays
free of HTTP code.
"""
