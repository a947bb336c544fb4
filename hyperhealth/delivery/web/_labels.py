"""Words that reach the templates as data, marked here so that they are extracted and translated.

Templates translate some values they receive (``{{ _(a.level.label) }}``, ``{{ _(a.status) }}``,
``{{ _(user.role.value) }}``, ``{{ _(s.display) }}``); the extractor only sees literal strings,
so every value those can take is listed below. ``tests/delivery/test_i18n.py`` compares these
lists with their sources (alert levels and statuses, roles, the metric table), so a new value
that is not listed here fails the test.
"""

from __future__ import annotations

from hyperhealth.delivery.web._i18n import N_

#: ``Level.label`` (hyperhealth.actions.levels)
LEVELS = (N_("info"), N_("warn"), N_("urgent"))

#: alert statuses (hyperhealth.actions.alerts._lifecycle.STATUSES)
ALERT_STATUSES = (N_("open"), N_("acknowledged"), N_("resolved"), N_("suppressed"))

#: ``Person.sex_at_birth``: FHIR administrative gender codes (hyperhealth.model._types)
SEX_AT_BIRTH = (N_("female"), N_("male"), N_("other"), N_("unknown"))

#: ``Role`` values (hyperhealth.security._model)
ROLES = (N_("patient"), N_("clinician"), N_("care-coordinator"), N_("researcher"),
         N_("admin"), N_("device"))

#: ``Metric.display`` of every metric (hyperhealth.model.codes.METRICS): LOINC names and ours
METRIC_NAMES = (
    N_("Glucose [Mass/volume] in Blood"),
    N_("Oxygen saturation in Arterial blood"),
    N_("Body weight"),
    N_("Body mass index (BMI) [Ratio]"),
    N_("Heart rate --resting"),
    N_("Calories burned"),
    N_("Hemoglobin A1c/Hemoglobin.total in Blood"),
    N_("Number of steps in unspecified time Pedometer"),
    N_("Oxygen saturation in Arterial blood by Pulse oximetry"),
    N_("R-R interval.standard deviation (Heart rate variability)"),
    N_("Body height"),
    N_("Body temperature"),
    N_("Diastolic blood pressure"),
    N_("Systolic blood pressure"),
    N_("Heart rate"),
    N_("Respiratory rate"),
    N_("Glucose [Mass/volume] in Interstitial fluid"),
    N_("Air temperature"),
    N_("US EPA Air Quality Index"),
    N_("Carbon monoxide mixing ratio"),
    N_("NWS heat index"),
    N_("Nitrogen dioxide mixing ratio"),
    N_("Ozone mixing ratio"),
    N_("PM10 mass concentration"),
    N_("PM2.5 mass concentration"),
    N_("Pollen count"),
    N_("Relative humidity"),
    N_("Sulfur dioxide mixing ratio"),
    N_("UV index"),
)
