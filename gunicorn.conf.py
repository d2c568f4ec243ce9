"""gunicorn's settings for serving the site (gunicorn reads this file from the working directory).

    gunicorn fraudsite.wsgi            # WEB_WORKERS, WEB_THREADS and WEB_BIND override the defaults

A decision is mostly CPU-bound Python with a few short database round trips, so the default is
one request thread per worker and one worker per core plus one: the spare worker keeps the cores
busy while another waits on the database. More processes than that made each request dearer
(more switching between processes, colder caches) and, near saturation, tipped the server into
overload (figures in docs/benchmarks.md).
"""

import gc
import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("WEB_THREADS", "1"))
# gthread even with one thread: unlike the sync worker it keeps client connections alive, which
# halves the cost of a request for a client that sends many (measured: 5.8 -> 4.4 ms of CPU).
worker_class = os.environ.get("WEB_WORKER_CLASS", "gthread")
backlog = 2048
keepalive = 5
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "1000"))
# gunicorn's own ceiling (its maximum). The site refuses request targets over
# REQUEST_MAX_URI_LENGTH (4096) itself, with 414 in the API's error shape; only request lines
# over this limit get gunicorn's plain-text 414, which no application code can change.
limit_request_line = int(os.environ.get("WEB_LIMIT_REQUEST_LINE", "8190"))
# gunicorn's logger with a filter that masks card numbers on every handler of the error and access
# logs: request lines carry query strings ("GET /?card=4111..."), which would be written as sent.
logger_class = "core.logging.GunicornLogger"


def post_worker_init(worker):
    """Load the champion before the first request, then freeze what startup built: Django,
    scikit-learn and the model live as long as the worker, and the collector's full passes over
    them used to stall a request now and then."""
    from django.db import connections

    from detection.serving import registry, scoring

    try:
        loaded = registry.serving_model()
        if loaded is not None:
            scoring.explainer_for(loaded)
    except Exception:  # a worker without a model still serves (decisions fall back to review)
        worker.log.exception("Could not load the champion model at start-up")
    finally:
        connections.close_all()  # the worker opens its own when it serves
    gc.freeze()
