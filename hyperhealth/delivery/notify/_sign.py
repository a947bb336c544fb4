"""The signature on webhook deliveries: HMAC-SHA256 of the exact body with the webhook's secret.

A receiver recomputes it over the raw body it received and compares in constant time:

>>> body = b'{"id":1}'
>>> header = sign("s3cret", body)
>>> header
'sha256=63ddab34da5838e383545e9c90b40f74a4e3daabc5dd9a8d49a51875ad4b2418'
>>> verify("s3cret", body, header), verify("other", body, header)
(True, False)
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hyperhealth-Signature"
#: carries the notification id; a receiver that has seen it before drops the repeat
IDEMPOTENCY_HEADER = "Idempotency-Key"
ATTEMPT_HEADER = "X-Hyperhealth-Attempt"


def sign(secret: str, body: bytes) -> str:
    """The value of the :data:`SIGNATURE_HEADER` header for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the signature of ``body`` under ``secret``."""
    return header is not None and hmac.compare_digest(sign(secret, body), header.strip())
