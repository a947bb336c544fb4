"""When to try a failed notification again: exponential back-off with jitter, a cap, a limit.

These are delivery settings of the product, not clinical thresholds.

>>> p = RetryPolicy(base_s=15, cap_s=3600, max_attempts=12)
>>> [p.ceiling_s(n) for n in (1, 2, 3, 9, 12)]
[15.0, 30.0, 60.0, 3600.0, 3600.0]
>>> import random
>>> 7.5 <= p.delay_s(1, random.Random(1)) <= 15
True
>>> p.gives_up(12), p.gives_up(11)
(True, False)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime

from hyperhealth.model.time import to_us

#: ``next_attempt_us`` of a notification that will not be tried again (with ``last_error`` saying
#: why). A date far ahead that every datetime library can still represent.
GAVE_UP_US = to_us(datetime(9999, 1, 1, tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Delay before attempt ``n + 1`` after ``n`` failures: ``min(cap, base * 2**(n-1))``, of which
    the fraction ``jitter`` is drawn at random (so many receivers failing together do not all
    come back in the same second). After ``max_attempts`` failures the notification is given up.

    With the defaults a notification is tried 12 times over about 4 to 8 hours.
    """

    base_s: float = 15.0
    cap_s: float = 3600.0
    max_attempts: int = 12
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s:
            raise ValueError("need 0 < base_s <= cap_s")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter is a fraction between 0 and 1")

    def ceiling_s(self, failures: int) -> float:
        """The delay after ``failures`` failures before jitter is taken off."""
        return float(min(self.cap_s, self.base_s * 2.0 ** min(max(failures, 1) - 1, 60)))

    def delay_s(self, failures: int, rng: random.Random, retry_after_s: float | None = None
                ) -> float:
        """Seconds to wait; a receiver's ``Retry-After`` lengthens it (up to the cap)."""
        d = self.ceiling_s(failures) * (1.0 - self.jitter * rng.random())
        if retry_after_s is not None:
            d = max(d, min(retry_after_s, self.cap_s))
        return d

    def gives_up(self, failures: int) -> bool:
        return failures >= self.max_attempts
