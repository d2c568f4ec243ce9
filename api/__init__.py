"""Domain-free plumbing of the REST API, shared by every app's `api.py`: the error shape,
authentication by integrator key, role permissions, per-key throttling, pagination,
idempotency, background jobs and the OpenAPI helpers; and the endpoints of accounts (`/me/`,
`/keys/`). It sits between `accounts` (keys, roles) and the domain apps: it imports `accounts`
and `core` only, and `transactions` and `detection` import it."""
