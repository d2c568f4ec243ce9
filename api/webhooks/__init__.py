"""Webhooks: integrators (and the bank's staff) subscribe to events about their cards; each event
is delivered, signed the Standard Webhooks way, by the task worker, retried with backoff.

Below `transactions` and `detection` in the layers, so their services emit events; it knows
nothing of cards or payments: a writer hands it an event type, whose cards it concerns (the
integrator, or None for the bank's own) and the event's data, inside its own database
transaction (`services.event_emit`). The event and its deliveries are written in that
transaction (an outbox): a rolled-back write leaves no event, and a committed one is never lost
to a crash before its delivery was queued."""
