"""Monitoring domain: drift reports, alerts, and the sensor that retrains on confirmed drift."""

import dagster as dg

from .debugging import model_debugging
from .drift import drift_report
from .retrain import retrain_sensor
from .sensors import alerts_sensor

drift_report_job = dg.define_asset_job("report_drift", selection=[drift_report])
debug_model_job = dg.define_asset_job("debug_model", selection=[model_debugging])


def defs() -> dg.Definitions:
    return dg.Definitions(
        assets=[drift_report, model_debugging],
        jobs=[drift_report_job, debug_model_job],
        sensors=[alerts_sensor, retrain_sensor],
    )
