"""Monitoring jobs: the day's drift report, and the model debugging report."""

import dagster as dg

from dataflywheel.defs.monitoring.drift_report import drift_report
from dataflywheel.defs.monitoring.model_debugging import model_debugging

drift_report_job = dg.define_asset_job("report_drift", selection=[drift_report])
debug_model_job = dg.define_asset_job("debug_model", selection=[model_debugging])
