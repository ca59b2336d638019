"""The closed loop for a simulated week (`make flywheel`): the run, its canary episodes, its report."""
