"""`messenger demo`: the whole default series, compressed to seconds, through the real scheduler."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from rich.console import Console

from messenger.config import Settings
from messenger.demo import run_demo

# A story far from today: the demo's dates follow the clock it is given, not the wall clock.
STORY_DAY = datetime(2039, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.slow
async def test_the_demo_delivers_the_whole_series_in_order(tmp_path):
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'demo.db'}")  # type: ignore[call-arg]
    output = io.StringIO()

    summary = await run_demo(settings, now=STORY_DAY, seconds=8, console=Console(file=output, width=120))

    text = output.getvalue()
    assert summary.finished
    assert summary.expected == 29
    counts = {kind: dict(c) for kind, c in summary.by_kind.items()}
    assert counts == {
        "welcome": {"sent": 1},
        "education": {"sent": 10},
        "reminder": {"sent": 10},
        "checkin": {"sent": 6},
        "completion": {"sent": 1},
    }
    shown = re.findall(r"(?:welcome|education|reminder|checkin|completion)\s{2}([a-z0-9-]+)", text)
    assert shown == summary.order
    assert summary.order[0] == "welcome" and summary.order[-1] == "completion"
    assert [k for k in summary.order if k.startswith("reminder-eve")] == [f"reminder-eve-{n}" for n in range(1, 6)]
    assert "Infusion 3 of 5" in text or "infusion 3 of 5" in text
    assert "Demo summary" in text and "Worst lateness" in text
    assert re.search(r"\b(3 March|March 3)\b", text), "the first infusion is two days after the story's first day"
