"""Shipping mails out: build the bytes (`message`), send them in bulk over SMTP (`sender`)."""

from connectors.smtp.message import address_of, build_message, check_address, make_message_id
from connectors.smtp.sender import OutgoingMail, SendResult, SmtpSender

__all__ = [
    "OutgoingMail",
    "SendResult",
    "SmtpSender",
    "address_of",
    "build_message",
    "check_address",
    "make_message_id",
]
