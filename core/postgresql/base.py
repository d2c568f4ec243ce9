"""Django's PostgreSQL backend, with a health check that costs no round trip when nothing
happened.

Django checks a reused connection at the start of each request (CONN_HEALTH_CHECKS) with a
`SELECT 1`: one round trip of the dozen a decision makes. A server that ends an idle connection
(restart, idle timeout, `pg_terminate_backend`) sends an error and closes it, which leaves the
socket readable; a healthy idle connection has nothing to read. So the socket is polled first,
without waiting, and Django's query runs only when something arrived. (A peer that vanished
without a word is missed by both alike: the query would wait for TCP to give up.)

Connecting gives up after CONNECT_TIMEOUT seconds unless OPTIONS say otherwise: a server that
does not answer (a host down, packets dropped) would otherwise hold each request for the system's
TCP timeout, minutes, past gunicorn's worker timeout, instead of answering 503 at once.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus

CONNECT_TIMEOUT = 3  # seconds; libpq's minimum is 2


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        params.setdefault("connect_timeout", CONNECT_TIMEOUT)
        return params

    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return super().is_usable()
        poller = select.poll()
        try:
            poller.register(conn.fileno(), select.POLLIN | select.POLLPRI)
            something_arrived = bool(poller.poll(0))
        except (OSError, ValueError):
            return False
        return not something_arrived or super().is_usable()
