"""Whether the sender domain is authenticated for the SMTP relay: SPF, DKIM, DMARC in DNS.

`lookup` does the DNS I/O (dnspython, a configurable resolver, short timeouts), `spf` evaluates
an SPF policy for the relay's addresses, `check` turns everything into findings with fixes
(`liefern check`, and the start of `liefern serve`).
"""
