"""Signals for the apps above `accounts`, which it may not import."""

from django.dispatch import Signal

# Sent (sender: the user model) after users were changed by a bulk update, which sends no
# post_save, e.g. deactivated from the admin: what a process remembers about them (the API's
# verified keys) must be forgotten at once.
users_changed_in_bulk = Signal()
