"""A model's life after serving starts: retraining and its promotion gate, the background tasks,
monitoring of traffic and models, and the dashboards' charts.
"""
