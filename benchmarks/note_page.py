"""What a note's page costs to serve, against the app's cheapest page in the same run.

The whole app runs on loopback (SQLite, the web app as ``messenger run`` serves it). One patient's
education note is sent by SMS to an in-process Twilio stand-in; the link it carries is then
fetched ``--requests`` times by one HTTP client, interleaved with the other two requests:

* ``GET /healthz``: the baseline (one ``SELECT 1``).
* ``GET /n/<token>``: verify the token, load the note's rows, record the opening (a write and an
  audit row each time), render the note and the page.
* ``GET /n/<forged>``: a forged token, refused before the database.

Figures are median milliseconds per request over ``--repeat`` rounds, and ratios to the baseline.

Run: ``.venv/bin/python benchmarks/note_page.py [--requests 300] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from messenger.clock import ManualClock
from messenger.domain.enums import ChannelName
from tests.conftest import T0
from tests.factories import enrol_patient, messages_of, run_until
from tests.fakes.twilio_api import FakeTwilioApi
from tests.inbound.support import PATIENT_PHONE, SIGNING_SECRET, SMS_FROM, inbound_settings, running_app

STEP = "edu-what-is-chronic-pain"


async def _round(http: httpx.AsyncClient, cases: dict[str, tuple[str, int]], count: int) -> dict[str, float]:
    """Milliseconds per request for each case, the cases interleaved so that load on the machine hits all alike."""
    spent = dict.fromkeys(cases, 0.0)
    for _ in range(count):
        for name, (url, status) in cases.items():
            started = time.perf_counter()
            response = await http.get(url)
            spent[name] += time.perf_counter() - started
            assert response.status_code == status, (url, response.status_code)
    return {name: seconds / count * 1000 for name, seconds in spent.items()}


async def main(requests: int, repeat: int) -> None:
    clock = ManualClock(T0)
    with tempfile.TemporaryDirectory() as folder:
        async with FakeTwilioApi(from_numbers={SMS_FROM}) as twilio:
            settings = inbound_settings(
                f"sqlite:///{folder}/bench.db", twilio=twilio, public=True, signing_secret=SIGNING_SECRET
            )
            async with running_app(settings, clock) as app:
                series = await enrol_patient(app, contacts=[(ChannelName.SMS, PATIENT_PHONE)])
                note = (await messages_of(app, series.id))[STEP]
                await run_until(app, note.send_at)
                note = (await messages_of(app, series.id))[STEP]
                [sms] = [m for m in twilio.messages if m.sid == note.provider_id]
                link = re.findall(r"https?://\S+", sms.body)[0]
                forged = link[:-1] + ("A" if link[-1] != "A" else "B")
                assert app.web is not None
                cases = {"healthz": (f"{app.web.url}/healthz", 200), "note": (link, 200), "forged": (forged, 404)}
                timings: dict[str, list[float]] = {name: [] for name in cases}
                async with httpx.AsyncClient(timeout=30) as http:
                    for _ in range(repeat):
                        for name, milliseconds in (await _round(http, cases, requests)).items():
                            timings[name].append(milliseconds)
    baseline = statistics.median(timings["healthz"])
    print(f"{requests} requests x {repeat} rounds, SQLite, one client on loopback")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:8} {median:7.2f} ms/request  ({median / baseline:4.1f}x /healthz)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.requests, arguments.repeat))
