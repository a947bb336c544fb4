"""A person's day at a glance and their trends, against their own recent days.

- :func:`glance`: one day's vitals, sleep, activity, CGM metrics, environment and advisories,
  each against the person's personal band (10th-90th percentile of their daily values over the
  28 days before; a description of their own days, not a clinical range).
- :func:`trends`: one measure per day, ISO week or month in the person's time zone.
- :func:`cgm_metrics`: time in ranges, mean, CV, GMI and wear of CGM readings (Battelino 2019,
  Bergenstal 2018), weighted by the time each reading covers.
- :func:`personal_band`: the band itself.

Methods and sources: ``docs/methods.md``, section "Summary and trends".

>>> from hyperhealth.insights.summary import SECTIONS, SLEEP
>>> SECTIONS[:3], SLEEP
(('vitals', 'sleep', 'activity'), 'sleep')
"""

from hyperhealth.insights.summary._cgm import TARGETS, CgmMetrics, cgm_metrics, classify
from hyperhealth.insights.summary._common import (
    BASELINE_DAYS,
    MIN_BASELINE_DAYS,
    Band,
    Units,
    personal_band,
)
from hyperhealth.insights.summary._glance import SECTIONS, VITALS, glance
from hyperhealth.insights.summary._sleep import SLEEP, nights
from hyperhealth.insights.summary._trends import PERIODS, trends

__all__ = ["BASELINE_DAYS", "MIN_BASELINE_DAYS", "PERIODS", "SECTIONS", "SLEEP", "TARGETS",
           "VITALS", "Band", "CgmMetrics", "Units", "cgm_metrics", "classify", "glance",
           "nights", "personal_band", "trends"]
