"""Shipping mails out: build the bytes (`message`), send them in bulk over SMTP (`sender`).

Callers import from the modules; the package root imports nothing.
"""
