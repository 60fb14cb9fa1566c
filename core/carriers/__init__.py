"""Carriers: who they are, what their tracking numbers look like, where buyers track parcels.

table.py        the carrier table (codes, names, aliases, tracking links, number formats)
checkdigits.py  the check-digit rules, pure functions
numbers.py      lookup by name, normalisation and validation, detection, tracking links
"""
