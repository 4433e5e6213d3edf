"""What the staff dashboard's pages cost to serve, against the app's cheapest page in the same run.

The whole app runs on loopback (SQLite, the bot on the fake Bot API server, the web app as
``messenger run`` serves it) with ``--patients`` enrolled patients. One signed-in client fetches,
interleaved ``--requests`` times per round:

* ``GET /healthz``: the baseline (one ``SELECT 1``);
* ``GET /dashboard/patients``: the session check, then the newest 100 patients with their series
  and next infusion;
* ``GET /dashboard/patients/1``: one patient's card, every message, answers and conversation;
* ``GET /dashboard/inbox`` and ``GET /dashboard/agenda`` (every message due in the next 24 hours).

Figures are median milliseconds per request over ``--repeat`` rounds, and ratios to the baseline.

Run: ``.venv/bin/python benchmarks/dashboard_pages.py [--patients 200] [--requests 50] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from messenger.clock import ManualClock
from messenger.db import transaction
from messenger.services.dashboard_access import issue_login
from tests.bot.conftest import OWNER, bot_settings
from tests.conftest import T0
from tests.factories import enrol_patient
from tests.fakes.bot_api import FakeBotApi
from tests.inbound.support import free_port, running_app

PAGES = ("patients", "patients/1", "inbox", "agenda")


async def _round(http: httpx.AsyncClient, urls: dict[str, str], count: int) -> dict[str, float]:
    spent = dict.fromkeys(urls, 0.0)
    for _ in range(count):
        for name, url in urls.items():
            started = time.perf_counter()
            response = await http.get(url)
            spent[name] += time.perf_counter() - started
            assert response.status_code == 200, (url, response.status_code)
    return {name: seconds / count * 1000 for name, seconds in spent.items()}


async def main(patients: int, requests: int, repeat: int) -> None:
    clock = ManualClock(T0)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBotApi() as api:
            settings = bot_settings(
                api, f"sqlite:///{folder}/bench.db", public_url=f"http://127.0.0.1:{port}", http_port=port
            )
            async with running_app(settings, clock) as app:
                for number in range(patients):
                    await enrol_patient(app, name=f"Patient {number}")
                async with transaction(app.sessions) as session:
                    token = await issue_login(
                        session=session, clock=clock, staff_user_id=OWNER, ttl=timedelta(minutes=10)
                    )
                base = settings.public_url
                urls = {"healthz": f"{base}/healthz", **{page: f"{base}/dashboard/{page}" for page in PAGES}}
                timings: dict[str, list[float]] = {name: [] for name in urls}
                async with httpx.AsyncClient(timeout=30) as http:
                    assert (await http.get(f"{base}/dashboard/login/{token}")).status_code == 303
                    for _ in range(repeat):
                        for name, milliseconds in (await _round(http, urls, requests)).items():
                            timings[name].append(milliseconds)
    baseline = statistics.median(timings["healthz"])
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"{patients} patients, {requests} requests x {repeat} rounds, SQLite, one client on loopback (load {load})")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"  {name:12} {median:7.2f} ms/request  ({median / baseline:5.1f}x /healthz)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.patients, arguments.requests, arguments.repeat))
