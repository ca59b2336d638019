"""The simulated users against the live service: what it shows them decides what they do.

A day of the closed loop is the batch simulator's day without its logging policy: the same
browsing and creation events, sent through ``POST /v1/events``; and for every home-feed request
the simulator would have answered itself, a ``POST /v1/recommendations`` to the service. The
hidden preference model then decides clicks and engagement on what the service actually showed,
at the position it showed it (``activity.feed_outcomes``), and those events go back through
``POST /v1/events`` once their simulated time has come. The service logs its own impressions.

Time is the simulation's: ``SimulatedClock`` is what the service stamps arrivals and served
lists with, moved forward request by request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx
import numpy as np
import polars as pl

from dataflywheel.contracts.vocabulary import EventType, Surface
from dataflywheel.simulator.activity import ET, FEED_SIZE, SF, DayEvents, feed_outcomes, organic_day
from dataflywheel.simulator.config import SimulationConfig
from dataflywheel.simulator.regret import RegretLedger
from dataflywheel.simulator.wire import FAULT_COLUMN, to_wire
from dataflywheel.simulator.world import World

SLICE_US = 10 * 60 * 1_000_000  # events are sent, and outcomes come due, in slices of ten simulated minutes
DELIVERY_US = 2_000_000  # how long after it happened an event reaches the collector
MAX_BATCH = 1_000  # the collector's limit per request


class SimulatedClock:
    """The simulation's time (UTC), for the service to stamp what it receives and serves."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move_to(self, ts_us: int) -> None:
        self.now = max(self.now, datetime.fromtimestamp(ts_us / 1e6, timezone.utc))


@dataclass
class Served:
    request_id: str
    model_version: str
    items: list[int]  # world item indices, in position order


class ServiceClient:
    """The service's HTTP API as the simulated product uses it: one API key per tenant."""

    def __init__(self, url: str, keys: dict[int, str], timeout: float = 30.0):
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.keys = keys

    def recommend(self, tenant: int, user: int, k: int) -> Served:
        reply = self._post(tenant, "/v1/recommendations", {"user_id": f"u{user}", "k": k}).json()
        items = [int(item["item_id"][1:]) for item in sorted(reply["items"], key=lambda item: item["position"])]
        return Served(reply["request_id"], reply["model_version"], items)

    def send(self, tenant: int, events: list[dict]) -> int:
        """Send events in batches the collector takes; how many it accepted."""
        accepted = 0
        for start in range(0, len(events), MAX_BATCH):
            reply = self._post(tenant, "/v1/events", {"events": events[start : start + MAX_BATCH]}).json()
            accepted += reply["accepted"]
        return accepted

    def _post(self, tenant: int, path: str, body: dict) -> httpx.Response:
        """A POST, retried while the service says it is busy or not ready (503 + Retry-After)."""
        for _ in range(120):
            reply = self.http.post(path, json=body, headers={"X-API-Key": self.keys[tenant]})
            if reply.status_code != 503:
                reply.raise_for_status()
                return reply
            time.sleep(min(float(reply.headers.get("retry-after", 1)), 1.0))
        raise TimeoutError(f"{path}: the service stayed unavailable")

    def close(self) -> None:
        self.http.close()


@dataclass
class DayPlay:
    """What one closed-loop day sent and got."""

    day: int
    requests: int = 0
    impressions: int = 0
    clicks: int = 0
    engagements: int = 0
    events_sent: int = 0
    events_accepted: int = 0
    versions: set[str] = field(default_factory=set)  # model versions that served this day


@dataclass
class ClosedLoop:
    world: World
    config: SimulationConfig
    client: ServiceClient
    clock: SimulatedClock
    ledger: RegretLedger
    k: int = FEED_SIZE
    _pending: list[DayEvents] = field(default_factory=list)  # outcomes whose time has not come yet
    _served: dict[int, Served] = field(default_factory=dict)  # this simulation's request number -> reply
    _sends: int = 0  # batches sent so far: seeds each batch's event ids
    _today: tuple = (None,)  # (day, organic events, feed request users, their times) of the day being played

    def play_hours(self, play: DayPlay, hours: range, on_request: Callable[[], None] | None = None) -> None:
        """Play ``hours`` (of the day, 0..23) of day ``play.day`` against the service, in time
        order, counting into ``play``."""
        day = play.day
        if self._today[0] != day:  # the day's draws once, not once per step
            self._today = (day, *organic_day(self.world, self.config, day))
        _, organic, users, times = self._today
        day_start = self.config.start_us + day * 86_400_000_000
        for hour in hours:
            for lo in range(day_start + hour * 3_600_000_000, day_start + (hour + 1) * 3_600_000_000, SLICE_US):
                hi = lo + SLICE_US
                # Requests at their own time; the slice's other events are received by its end.
                in_slice = np.flatnonzero((times >= lo) & (times < hi))
                for i in in_slice[np.argsort(times[in_slice], kind="stable")]:
                    self._serve(day, int(users[i]), int(times[i]), play)
                    if on_request:
                        on_request()
                self._send(organic.take(np.flatnonzero((organic.ts_us >= lo) & (organic.ts_us < hi))), hi, play)
                self._send_due(hi, play)

    def _serve(self, day: int, user: int, ts_us: int, play: DayPlay) -> None:
        self.clock.move_to(ts_us)
        tenant = int(self.world.user_tenant[user])
        served = self.client.recommend(tenant, user, self.k)
        number = len(self._served)
        self._served[number] = served
        shown = np.array(served.items, dtype=np.int64)
        n = len(shown)
        play.requests, play.impressions = play.requests + 1, play.impressions + n
        play.versions.add(served.model_version)
        now_s = (ts_us - self.config.start_us) // 1_000_000
        shifted = self.config.drift.active(day)
        self.ledger.record(day, user, shown, now_s, shifted, served.model_version)
        if not n:
            return
        impressions = DayEvents(
            event_type=np.full(n, ET[EventType.REC_IMPRESSION]),  # not sent: the service logged its impressions
            ts_us=np.full(n, ts_us),
            user=np.full(n, user),
            item=shown,
            surface=np.full(n, SF[Surface.HOME_FEED]),
            rec_request=np.full(n, number),
            position=np.arange(n),
            propensity=np.full(n, np.nan),
            dwell_ms=np.full(n, -1),
            properties=np.zeros(n, np.int64),
        )
        rng = np.random.default_rng([self.config.seed, 3, number])
        outcome = feed_outcomes(self.world, self.config, impressions, shifted, rng)
        play.clicks, play.engagements = play.clicks + len(outcome.clicked), play.engagements + len(outcome.engaged)
        self._pending += [outcome.clicks, outcome.engagements]

    def _send_due(self, until_us: int, play: DayPlay) -> None:
        if not self._pending:
            return
        pending = DayEvents.concat(self._pending)
        due = pending.ts_us < until_us
        self._pending = [pending.take(np.flatnonzero(~due))]
        self._send(pending.take(np.flatnonzero(due)), until_us, play)

    def _send(self, events: DayEvents, until_us: int, play: DayPlay) -> None:
        """Events that happened before ``until_us``, received by the collector at their time plus delivery."""
        if not len(events):
            return
        order = np.argsort(events.ts_us, kind="stable")
        events = events.take(order)
        self.clock.move_to(min(int(events.ts_us[-1]) + DELIVERY_US, until_us))
        self._sends += 1
        rng = np.random.default_rng([self.config.seed, 4, self._sends])
        wire = to_wire(self.world, events, events.ts_us, events.ts_us, rng).drop("received_ts", FAULT_COLUMN)
        wire = self._as_served(wire, events)
        rows = [{k: v for k, v in row.items() if v is not None} for row in wire.to_dicts()]
        tenants = self.world.user_tenant[events.user]
        for tenant in np.unique(tenants):
            batch = [row for row, t in zip(rows, tenants) if t == tenant]
            play.events_sent += len(batch)
            play.events_accepted += self.client.send(int(tenant), batch)

    def _as_served(self, wire: pl.DataFrame, events: DayEvents) -> pl.DataFrame:
        """Clicks name the request and model version the service answered with, not the simulator's."""
        number = events.rec_request
        if not (number >= 0).any():
            return wire
        request_ids = [self._served[int(n)].request_id if n >= 0 else None for n in number]
        versions = [self._served[int(n)].model_version if n >= 0 else None for n in number]
        return wire.with_columns(
            pl.Series("rec_request_id", request_ids, pl.String), pl.Series("model_version", versions, pl.String)
        )
