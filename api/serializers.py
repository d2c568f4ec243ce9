"""Serializer helpers shared by the apps' APIs."""

import threading

from django.utils.functional import cached_property
from rest_framework import serializers


class ReusedFieldsMixin:
    """For serializers on the decision path: build and bind the declared fields once per thread,
    not once per instance.

    DRF deep-copies every declared field for each serializer instance, which re-runs each field's
    __init__; on POST /transactions/ that was an eighth of the request's CPU. The fields hold no
    per-request state (values and errors live on the serializer), so each instance only points
    their `parent` at itself. One set per thread, because a thread uses one such serializer at a
    time; a serializer that edits its fields must not use this."""

    _reused_fields = threading.local()

    @cached_property
    def fields(self):
        cache = self._reused_fields.__dict__
        fields = cache.get(type(self))
        if fields is None:
            fields = cache[type(self)] = serializers.Serializer.fields.real_func(self)
        for field in fields.values():
            field.parent = self
        return fields
