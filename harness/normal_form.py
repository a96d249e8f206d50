"""Records in one normal form for comparing: values as a record's JSON holds them, and
output files matched by role where their names carry a time."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from harness.record import jsonable


def normal(value: Any) -> Any:
    """A value in the one form a record's JSON holds (lists, not tuples; strings, not
    paths), so a record in memory and one read back compare equal."""
    return json.loads(json.dumps(jsonable(value)))


# TensorFlow names each event file by its start time and host: a role, not an identity.
_EVENT_FILE = re.compile(r"events\.out\.tfevents\.[^/]*$")


def by_role(hashes: Mapping[str, str]) -> dict[str, str]:
    """Paths with event files matched by their role (`<folder>/events.out.tfevents.*`,
    how many) instead of their timestamped names; their contents hold wall times, so
    only their number compares."""
    found: dict[str, str] = {}
    events: dict[str, int] = {}
    for path, digest in hashes.items():
        role = _EVENT_FILE.sub("events.out.tfevents.*", path)
        if role == path:
            found[path] = digest
        else:
            events[role] = events.get(role, 0) + 1
    return found | {role: f"{count} event file(s)" for role, count in events.items()}
