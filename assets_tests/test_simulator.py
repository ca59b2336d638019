"""Properties of the simulated world: determinism, cycles, locality, cold start, faults, isolation."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from dataflywheel.contracts.vocabulary import EventType
from dataflywheel.simulator.activity import ET, simulate_day
from dataflywheel.simulator.config import FaultRates, SimulationConfig
from dataflywheel.simulator.run import deliver_day
from dataflywheel.simulator.wire import MALFORMED_KINDS
from dataflywheel.simulator.world import build_world

ITEM_EVENTS = [ET[e] for e in EventType if e.value.startswith(("issue_", "page_"))]


def test_same_seed_same_data_and_other_seed_other_data(small_config):
    world = build_world(small_config)
    first, _ = deliver_day(world, small_config, 1)
    again, _ = deliver_day(build_world(small_config), small_config, 1)
    assert first.equals(again)
    other_config = replace(small_config, seed=8)
    other, _ = deliver_day(build_world(other_config), other_config, 1)
    assert not other.equals(first)


def test_working_hours_are_busier_than_nights_in_local_time(small_config):
    world = build_world(small_config)
    events = simulate_day(world, small_config, 0)
    utc_hour = (events.ts_us // 3_600_000_000) % 24
    local_hour = np.mod(utc_hour + world.user_tz_hours[events.user], 24).astype(int)
    by_hour = np.bincount(local_hour, minlength=24)
    assert by_hour[9:17].mean() > 5 * by_hour[0:5].mean()


def test_weekends_are_quieter_than_working_days():
    config = SimulationConfig(days=7, events_per_day=20_000, seed=3, start=date(2026, 11, 16))  # Monday
    world = build_world(config)
    volumes = [len(simulate_day(world, config, day)) for day in range(7)]
    weekday, weekend = np.mean(volumes[:5]), np.mean(volumes[5:])
    assert weekend < 0.5 * weekday


def test_users_work_mostly_on_their_own_teams_items(small_config):
    world = build_world(small_config)
    events = simulate_day(world, small_config, 0)
    on_items = np.isin(events.event_type, ITEM_EVENTS) & (events.item >= 0)
    same_team = world.user_team[events.user[on_items]] == world.item_team[events.item[on_items]]
    assert same_team.mean() > 0.6


def test_no_interaction_crosses_tenants(small_config):
    world = build_world(small_config)
    events = simulate_day(world, small_config, 1)
    with_item = events.item >= 0
    assert np.array_equal(world.user_tenant[events.user[with_item]], world.item_tenant[events.item[with_item]])


def test_new_users_and_items_arrive_every_day_and_are_active(small_config):
    world = build_world(small_config)
    assert (world.user_join_day == 1).sum() > 0
    day_start, day_end = 86_400, 2 * 86_400
    new_items = np.flatnonzero((world.item_created_s >= day_start) & (world.item_created_s < day_end))
    assert len(new_items) > 0
    events = simulate_day(world, small_config, 1)
    joined_today = world.user_join_day[events.user] == 1
    assert joined_today.sum() > 0
    created = np.isin(events.event_type, [ET[EventType.ISSUE_CREATED], ET[EventType.PAGE_CREATED]])
    assert set(events.item[created]) == set(new_items)
    # Nobody acts before they exist.
    assert (world.user_join_day[events.user] <= 1).all()


def test_heavy_tailed_tenants():
    world = build_world(SimulationConfig(days=1, events_per_day=400_000, seed=1))
    sizes = np.sort(np.bincount(world.user_tenant))[::-1]
    assert sizes[0] > 10 * np.median(sizes)


def test_fault_rates_match_configuration(small_config):
    config = replace(small_config, faults=FaultRates(duplicate=0.02, malformed=0.01, late=0.01))
    rows, duplicates = deliver_day(build_world(config), config, 0)
    originals = rows.height - duplicates
    assert duplicates / originals == pytest.approx(0.02, rel=0.15)
    kinds = rows.get_column("_fault").drop_nulls()
    # Every malformed kind appears, in roughly equal shares, at about the configured rate.
    assert set(kinds.unique()) == {r.value for r in MALFORMED_KINDS}
    originals_malformed = rows.head(originals).get_column("_fault").drop_nulls().len()
    assert originals_malformed / originals == pytest.approx(0.01, rel=0.2)
    lateness = rows.get_column("received_ts").dt.replace_time_zone(None) - rows.get_column("event_ts").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.3fZ", strict=False
    )
    late_share = (lateness.dt.total_seconds() > 3_600).mean()
    assert late_share == pytest.approx(0.01 + 0.02 * 0.5, abs=0.01)  # late deliveries + some redeliveries


def test_no_faults_means_clean_delivery(small_config):
    config = replace(small_config, faults=FaultRates.none())
    rows, duplicates = deliver_day(build_world(config), config, 0)
    assert duplicates == 0
    assert rows.get_column("_fault").null_count() == rows.height
    assert rows.get_column("event_id").n_unique() == rows.height


def test_feed_propensities_are_probabilities_and_clicks_follow_the_oracle(small_config):
    world = build_world(small_config)
    events = simulate_day(world, small_config, 0)
    shown = events.event_type == ET[EventType.REC_IMPRESSION]
    assert ((events.propensity[shown] > 0) & (events.propensity[shown] <= 1)).all()
    clicks = events.event_type == ET[EventType.REC_CLICK]
    now_s = (events.ts_us[shown] - small_config.start_us) // 1_000_000
    expected_ctr = world.oracle_ctr(events.user[shown], events.item[shown], events.position[shown], now_s).mean()
    assert clicks.sum() / shown.sum() == pytest.approx(expected_ctr, rel=0.1)


def test_drift_shifts_product_mix(small_config):
    from dataflywheel.simulator.config import DriftSchedule

    def confluence_share(config):
        events = simulate_day(build_world(config), config, 1)
        frame = pl.DataFrame({"t": events.event_type})
        page = frame.filter(pl.col("t").is_in([ET[e] for e in EventType if e.value.startswith("page_")])).height
        issue = frame.filter(pl.col("t").is_in([ET[e] for e in EventType if e.value.startswith("issue_")])).height
        return page / (page + issue)

    drifted = replace(small_config, drift=DriftSchedule(start_day=1, confluence_shift=0.25))
    assert confluence_share(drifted) > confluence_share(small_config) + 0.1


def test_one_drift_kind_turns_one_knob():
    from dataflywheel.simulator.config import DriftSchedule

    feature = DriftSchedule.of_kind("feature", 2)
    assert (feature.onboarding_share, feature.confluence_shift, feature.preference_shift) == (0.3, 0.0, 0.0)
    assert (
        DriftSchedule.of_kind("product_mix", 2).confluence_shift
        > 0
        == DriftSchedule.of_kind("product_mix", 2).preference_shift
    )


def test_an_onboarding_wave_joins_on_the_drift_day_and_leaves_the_world_before_it_alone(small_config):
    from dataflywheel.simulator.config import DriftSchedule

    calm = build_world(small_config)
    wave = build_world(replace(small_config, drift=DriftSchedule.of_kind("feature", 1)))
    joined = (wave.user_join_day == 1) & (calm.user_join_day < 0)
    assert joined.mean() == pytest.approx(0.3 * (calm.user_join_day < 0).mean(), abs=0.03)
    np.testing.assert_array_equal(wave.user_taste, calm.user_taste)  # the same world otherwise
    np.testing.assert_array_equal(wave.item_quality, calm.item_quality)


def test_a_preference_shift_changes_what_gets_clicked_from_its_day_only(small_config):
    from dataflywheel.simulator.config import DriftSchedule

    world = build_world(replace(small_config, drift=DriftSchedule.of_kind("preference", 1)))
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, len(world.user_team), 20_000), rng.integers(0, len(world.item_team), 20_000)
    same_team = world.user_team[users] == world.item_team[items]
    zeros = np.zeros(len(users), np.int64)
    before = world.click_logit(users, items, zeros, zeros, shifted=False)
    after = world.click_logit(users, items, zeros, zeros, shifted=True)
    # Attention moves from the team's own items to new ones: same-team items lose appeal.
    lift_before = before[same_team].mean() - before[~same_team].mean()
    lift_after = after[same_team].mean() - after[~same_team].mean()
    assert lift_before > 0.5 and lift_after < lift_before - 0.5


def test_landing_is_append_only_and_rerunning_a_simulation_rewrites_nothing(small_config, tmp_path):
    from dataflywheel.ingest.landing import list_event_files
    from dataflywheel.simulator.run import simulate

    config = replace(small_config, days=1, events_per_day=5_000)
    root = str(tmp_path / "landing")
    first = simulate(config, root)
    files = list_event_files(root)
    stamps = {f: Path(f).stat().st_mtime_ns for fs in files.values() for f in fs}
    assert first.files == len(stamps) > 0

    again = simulate(config, root)
    assert again.files == 0
    assert {f: Path(f).stat().st_mtime_ns for fs in list_event_files(root).values() for f in fs} == stamps

    other = simulate(replace(config, seed=99), root)  # another world lands beside, never over
    assert other.files > 0
    assert set(stamps) < {f for fs in list_event_files(root).values() for f in fs}


def test_logged_propensities_match_how_often_the_policy_picks_each_item(small_config):
    """The logged propensity is the exact per-slot probability: draw many slots for one user and
    compare each item's frequency with it (4 standard errors; items of other tenants never come)."""
    from dataflywheel.simulator.activity import DaySampler

    world = build_world(small_config)
    sampler = DaySampler(world, small_config, 1, np.random.default_rng(0))
    slots = 200_000
    items, propensity = sampler.feed_slots(np.full(slots, 0))
    assert (items >= 0).all()
    assert (world.item_tenant[items] == world.user_tenant[0]).all()
    logged = pl.DataFrame({"item": items, "p": propensity}).group_by("item").agg(pl.col("p").first(), n=pl.len())
    frequency = logged.get_column("n").to_numpy() / slots
    p = logged.get_column("p").to_numpy()
    assert np.allclose(frequency, p, atol=4 * np.sqrt(p * (1 - p) / slots) + 1e-9)
    assert p.sum() <= 1 + 1e-9 and p.sum() > 0.95  # the items drawn carry (almost) all the probability
