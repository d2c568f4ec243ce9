"""Domain-free plumbing of the REST API, shared by every app's `api.py`: the error shape,
authentication by integrator key, role permissions, per-key throttling, pagination,
idempotency and the OpenAPI helpers. It lives in `accounts` because keys and roles do, and
because `accounts` depends on nothing else of ours, so every app may import it."""
