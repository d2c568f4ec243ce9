"""Settings of a task worker started by the integration tests: the test settings, pointed at the
test database the test process uses, with the task backend and detection settings it passes."""

import json
import os

from fraudsite.test_settings import *  # noqa: F403
from fraudsite.test_settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["WORKER_DB_NAME"]
TASKS = json.loads(os.environ["WORKER_TASKS"])
globals().update(json.loads(os.environ.get("WORKER_SETTINGS", "{}")))
