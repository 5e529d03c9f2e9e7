"""Rakuten Ichiba connector: `client` (RMS over HTTP), `mapping` and `statuses` (pure), later `sync`."""

from kura.channels.rakuten.client import CallRecord, RmsClient, RmsSettings
from kura.channels.rakuten.errors import InvalidRequest, NotFound, Permanent, Retryable, RmsError, Suspended

__all__ = [
    "CallRecord",
    "InvalidRequest",
    "NotFound",
    "Permanent",
    "Retryable",
    "RmsClient",
    "RmsError",
    "RmsSettings",
    "Suspended",
]
