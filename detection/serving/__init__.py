"""Deciding: the model registry (versions, artifacts, the champion each process serves), the
list and rule kinds, the decision bands, reasons, online `decide()` and batch scoring, and the
health checks of what serving needs.
"""
