"""The feature store: feature views declared once (``definitions``), the hourly build, the
point-in-time join, the training examples, the request-time features and the online snapshot.

Imports ``contracts`` and ``warehouse`` only; ranking and serving import from here.
"""
