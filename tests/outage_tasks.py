"""Tasks for the worker's outage test (tests/test_database_outage.py): one that answers at once,
one that takes a while without touching the database."""

import time

from django.tasks import task


@task()
def echo(value):
    return value


@task()
def nap(seconds):
    time.sleep(seconds)
    return "rested"
