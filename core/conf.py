"""Our own settings, each declared once: name, default, type, bounds. Checked at startup.

Each app declares its settings in its `conf.py`, one function each:

    @setting("DETECTION_LABEL_DELAY_DAYS", default=7, minimum=0)
    def label_delay_days(value) -> int:
        return int(value)

and reads one by calling it with no argument (`conf.label_delay_days()`): the function turns the
configured value (or the default) into what the code uses, and Django settings override the
default at any moment (tests and deployments alike). `manage.py check`, which every server and
worker runs at startup, validates each declared setting that is set: a wrong type, a value out
of bounds or a dotted path that does not import is reported before the first request instead of
failing one in the middle of the night. tests/test_settings_declared.py keeps every read of one
of our settings going through here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

DECLARED: dict[str, "Setting"] = {}
_UNSET = object()


@dataclass(frozen=True, eq=False)
class Setting:
    name: str
    default: Any  # a callable is called for the default (e.g. a path under BASE_DIR)
    parse: Callable[[Any], Any] = lambda value: value
    minimum: Any = None
    maximum: Any = None
    dotted_path: bool = False  # the value names an object to import (or each key of a dict does)
    optional: bool = False  # None (or unset) means "the caller's default"

    def __post_init__(self):
        DECLARED[self.name] = self

    def __call__(self):
        value = getattr(settings, self.name, _UNSET)
        if value is _UNSET:
            value = self.default() if callable(self.default) else self.default
        if value is None and self.optional:
            return None
        return self.parse(value)

    def problem(self) -> str | None:
        """Why the configured value cannot be used, or None."""
        try:
            value = self()
        except (TypeError, ValueError, ArithmeticError) as error:
            return f"{self.name} cannot be read: {error}"
        if value is None:
            return None
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be at least {self.minimum} (it is {value})."
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be at most {self.maximum} (it is {value})."
        for path in ([value] if isinstance(value, str) else list(value)) if self.dotted_path else []:
            try:
                import_string(path)
            except ImportError as error:
                return f"{self.name}: {path!r} does not import: {error}"
        return None


def setting(name, *, default, minimum=None, maximum=None, dotted_path=False, optional=False):
    """Declare the setting `name`, read through the decorated function (see the module's doc)."""

    def declare(parse):
        return Setting(name, default, parse, minimum, maximum, dotted_path, optional)

    return declare


@checks.register(checks.Tags.compatibility)
def check_declared_settings(app_configs=None, **kwargs):
    return [
        checks.Error(problem, id="core.E001", hint="Fix the value in the settings or the environment.")
        for setting in list(DECLARED.values())
        if hasattr(settings, setting.name) and (problem := setting.problem())
    ]


# --- settings of core itself --------------------------------------------------------------------


@setting("REDIS_URL", default="")
def redis_url(value) -> str:
    """Redis for the cache, the rate-limit counters and the task queue; empty: none (the
    database serves instead)."""
    return str(value)


@setting("API_PATH_PREFIX", default="/api/")
def api_path_prefix(value) -> str:
    """Addresses under this prefix answer errors in the API's JSON shape."""
    return str(value)


@setting("REQUEST_MAX_URI_LENGTH", default=4096, minimum=256)
def max_uri_length(value) -> int:
    """Longest request target (path and query) we serve: below gunicorn's limit_request_line
    (gunicorn.conf.py), so that in between we, not gunicorn, answer 414 in the API's shape."""
    return int(value)


@setting("PERIODIC_CHORES", default={}, dotted_path=True)
def periodic_chores(value) -> dict:
    """{dotted path of a function: every how many seconds} the task workers run it."""
    return {path: float(seconds) for path, seconds in dict(value).items()}
