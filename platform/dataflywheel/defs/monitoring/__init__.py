"""Monitoring domain: drift reports, model debugging, the alerts sensor and the crashed-runs sensor."""

import dagster as dg

from dataflywheel.defs.monitoring.alerts_sensor import alerts_sensor
from dataflywheel.defs.monitoring.crashed_runs import crashed_runs_sensor
from dataflywheel.defs.monitoring.drift_report import drift_report
from dataflywheel.defs.monitoring.jobs import debug_model_job, drift_report_job
from dataflywheel.defs.monitoring.model_debugging import model_debugging


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[drift_report, model_debugging],
        jobs=[drift_report_job, debug_model_job],
        sensors=[alerts_sensor, crashed_runs_sensor],
    )
