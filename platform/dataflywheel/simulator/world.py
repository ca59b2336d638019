"""The static shape of the simulated product: tenants, teams, users, containers and items.

Everything is a column of numpy arrays indexed by integer ids, so a day of activity is
drawn with vectorised sampling rather than a Python loop per event. Items are sorted by
(tenant, item type, team), which makes both "items of my team" and "items of my tenant"
contiguous ranges for group-wise weighted sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dataflywheel.contracts.vocabulary import Role
from dataflywheel.simulator.config import SimulationConfig

ROLES = np.array([role.value for role in Role])
ROLE_SHARES = np.array([0.45, 0.15, 0.1, 0.15, 0.15])  # in the order of Role
# Share of a role's activity that is Jira (the rest is Confluence).
ROLE_JIRA_SHARE = np.array([0.8, 0.55, 0.5, 0.65, 0.2])
TIMEZONES = np.array([-8, -5, 0, 1, 5.5, 8, 10])
LATENT_DIM = 8
EVENTS_PER_USER_DAY = 40
HISTORY_DAYS = 720  # oldest initial users and items predate the simulation by this much


@dataclass
class World:
    n_tenants: int
    # users
    user_tenant: np.ndarray
    user_team: np.ndarray
    user_role: np.ndarray  # index into ROLES
    user_tz_hours: np.ndarray
    user_join_day: np.ndarray  # day index relative to the simulation start; < 0 = existing
    user_activity: np.ndarray  # relative activity level (heavy-tailed)
    user_taste: np.ndarray  # hidden preference vectors, (n_users, LATENT_DIM)
    user_taste_shifted: np.ndarray  # the same users after a preference drift
    # teams
    team_tenant: np.ndarray
    # containers: Jira projects and Confluence spaces
    container_tenant: np.ndarray
    container_team: np.ndarray
    container_item_type: np.ndarray  # 0 = jira_issue, 1 = confluence_page
    # items, sorted by (tenant, item_type, team)
    item_tenant: np.ndarray
    item_type: np.ndarray
    item_team: np.ndarray
    item_container: np.ndarray
    item_author: np.ndarray
    item_created_s: np.ndarray  # seconds relative to the simulation start
    item_popularity: np.ndarray
    item_traits: np.ndarray  # hidden item vectors, (n_items, LATENT_DIM)
    item_quality: np.ndarray  # hidden item appeal independent of the user
    preference_shift: float  # how far tastes move when the drift starts (0 = none)

    # Items are sorted by (tenant, type, team): each of these groups is one contiguous run,
    # so "items of my tenant" or "my team's Jira issues" is a [start, end) range.
    @cached_property
    def tenant_items(self) -> tuple[np.ndarray, np.ndarray]:
        return _item_ranges(self.item_tenant, self.n_tenants)

    @cached_property
    def tenant_type_items(self) -> tuple[np.ndarray, np.ndarray]:
        """Indexed by tenant * 2 + item type."""
        return _item_ranges(self.item_tenant * 2 + self.item_type, self.n_tenants * 2)

    @cached_property
    def team_type_items(self) -> tuple[np.ndarray, np.ndarray]:
        """Indexed by team * 2 + item type."""
        return _item_ranges(self.item_team * 2 + self.item_type, len(self.team_tenant) * 2)

    def click_logit(
        self, users: np.ndarray, items: np.ndarray, positions: np.ndarray, now_s: np.ndarray, shifted: bool
    ) -> np.ndarray:
        """The hidden ground truth: how much a user wants an item shown at a position."""
        taste = self.user_taste_shifted if shifted else self.user_taste
        affinity = np.einsum("ij,ij->i", taste[users], self.item_traits[items])
        same_team = (self.user_team[users] == self.item_team[items]).astype(np.float64)
        age_days = np.maximum(now_s - self.item_created_s[items], 0) / 86_400
        freshness = np.exp(-age_days / 14.0)
        position_bias = -0.35 * np.log1p(positions)
        # After the drift, attention moves from the team's own items to whatever is new.
        s = self.preference_shift if shifted else 0.0
        team_weight, fresh_weight = 0.9 * (1 - 1.5 * s), 0.8 + 2.0 * s
        quality = self.item_quality[items]
        return -3.1 + 1.4 * affinity + team_weight * same_team + fresh_weight * freshness + quality + position_bias

    def oracle_ctr(
        self, users: np.ndarray, items: np.ndarray, positions: np.ndarray, now_s: np.ndarray, shifted: bool = False
    ) -> np.ndarray:
        """True click probability, for evaluating what a model learned."""
        return 1.0 / (1.0 + np.exp(-self.click_logit(users, items, positions, now_s, shifted)))

    def engage_given_click(self, users: np.ndarray, items: np.ndarray, shifted: bool) -> np.ndarray:
        taste = self.user_taste_shifted if shifted else self.user_taste
        affinity = np.einsum("ij,ij->i", taste[users], self.item_traits[items])
        same_team = (self.user_team[users] == self.item_team[items]).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-(-1.2 + 1.0 * affinity + 1.2 * same_team)))


def _item_ranges(group_of_item: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each group's items (empty groups: 0, 0); each group must be one run."""
    index = np.arange(len(group_of_item))
    lo, hi = np.full(n_groups, len(index)), np.zeros(n_groups, np.int64)
    np.minimum.at(lo, group_of_item, index)
    np.maximum.at(hi, group_of_item, index + 1)
    return np.minimum(lo, hi), hi


def _unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, LATENT_DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def build_world(config: SimulationConfig) -> World:
    """Draw a world sized for ``events_per_day``; the same seed gives the same world."""
    rng = np.random.default_rng([config.seed, 0])
    n_users_initial = max(200, config.events_per_day // EVENTS_PER_USER_DAY)
    n_tenants = config.n_tenants or max(5, min(400, n_users_initial // 150))
    # New users join every day (about 0.5% of the base); they exist from their join day.
    n_new_users = max(config.days, int(n_users_initial * 0.005 * config.days))
    n_users = n_users_initial + n_new_users

    tenant_size = rng.pareto(1.1, n_tenants) + 1.0  # heavy-tailed: a few huge sites
    user_tenant = np.sort(rng.choice(n_tenants, size=n_users, p=tenant_size / tenant_size.sum()))
    user_tenant[:n_tenants] = np.arange(n_tenants)  # every tenant has at least one user
    user_tenant = np.sort(user_tenant)

    # Teams of about eight within each tenant.
    tenant_users = np.bincount(user_tenant, minlength=n_tenants)
    teams_per_tenant = np.maximum(1, np.ceil(tenant_users / 8).astype(np.int64))
    team_tenant = np.repeat(np.arange(n_tenants), teams_per_tenant)
    team_offset = np.concatenate([[0], np.cumsum(teams_per_tenant)[:-1]])
    user_team = team_offset[user_tenant] + (rng.integers(0, 1 << 30, n_users) % teams_per_tenant[user_tenant])

    user_role = rng.choice(len(ROLES), size=n_users, p=ROLE_SHARES)
    tenant_tz = rng.choice(TIMEZONES, size=n_tenants)
    user_tz = np.where(rng.random(n_users) < 0.8, tenant_tz[user_tenant], rng.choice(TIMEZONES, size=n_users))
    is_new = np.zeros(n_users, dtype=bool)
    is_new[rng.choice(n_users, size=n_new_users, replace=False)] = True
    user_join_day = np.where(is_new, rng.integers(0, config.days, n_users), -rng.integers(1, HISTORY_DAYS, n_users))
    user_activity = rng.lognormal(0.0, 0.9, n_users)
    user_taste = _unit_rows(rng, n_users)
    drift_direction = _unit_rows(rng, 1)[0]
    s = config.drift.preference_shift
    shifted = (1 - s) * user_taste + s * (drift_direction + 0.5 * _unit_rows(rng, n_users))
    user_taste_shifted = shifted / np.linalg.norm(shifted, axis=1, keepdims=True)

    # Each team owns one to three Jira projects and one or two Confluence spaces.
    n_teams = len(team_tenant)
    projects = rng.integers(1, 4, n_teams)
    spaces = rng.integers(1, 3, n_teams)
    container_team = np.concatenate([np.repeat(np.arange(n_teams), projects), np.repeat(np.arange(n_teams), spaces)])
    container_item_type = np.concatenate([np.zeros(projects.sum(), np.int64), np.ones(spaces.sum(), np.int64)])
    container_tenant = team_tenant[container_team]
    container_size = rng.lognormal(2.5, 1.0, len(container_team))  # small and large projects/spaces

    n_items_initial = n_users_initial * 3
    n_new_items = max(config.days, int(n_items_initial * 0.01 * config.days))
    n_items = n_items_initial + n_new_items
    item_container = rng.choice(len(container_team), size=n_items, p=container_size / container_size.sum())
    item_team = container_team[item_container]
    team_members = np.argsort(user_team, kind="stable")
    team_first = np.searchsorted(user_team[team_members], np.arange(n_teams))
    team_count = np.bincount(user_team, minlength=n_teams)
    has_member = team_count[item_team] > 0
    author_pick = team_first[item_team] + rng.integers(0, 1 << 30, n_items) % np.maximum(team_count[item_team], 1)
    item_author = np.where(has_member, team_members[np.minimum(author_pick, n_users - 1)], 0)
    item_is_new = np.zeros(n_items, dtype=bool)
    item_is_new[rng.choice(n_items, size=n_new_items, replace=False)] = True
    # New items appear during the simulated days; old ones up to two years before.
    item_created_s = np.where(
        item_is_new,
        rng.uniform(0, config.days * 86_400, n_items),
        -rng.exponential(120 * 86_400, n_items).clip(3_600, HISTORY_DAYS * 86_400),
    ).astype(np.int64)
    item_popularity = rng.pareto(1.3, n_items) + 0.1

    order = np.lexsort((item_team, container_item_type[item_container], container_tenant[item_container]))
    item_container = item_container[order]
    item_traits, item_quality = _unit_rows(rng, n_items), rng.normal(0, 0.5, n_items)

    # Drift draws come from their own stream, so a drift knob never changes the world before it.
    drift_rng = np.random.default_rng([config.seed, 1])
    if config.drift.start_day is not None:
        onboarded = (user_join_day < 0) & (drift_rng.random(n_users) < config.drift.onboarding_share)
        user_join_day = np.where(onboarded, config.drift.start_day, user_join_day)
    return World(
        n_tenants=n_tenants,
        user_tenant=user_tenant,
        user_team=user_team,
        user_role=user_role,
        user_tz_hours=user_tz,
        user_join_day=user_join_day,
        user_activity=user_activity,
        user_taste=user_taste,
        user_taste_shifted=user_taste_shifted,
        team_tenant=team_tenant,
        container_tenant=container_tenant,
        container_team=container_team,
        container_item_type=container_item_type,
        item_tenant=container_tenant[item_container],
        item_type=container_item_type[item_container],
        item_team=item_team[order],
        item_container=item_container,
        item_author=item_author[order],
        item_created_s=item_created_s[order],
        item_popularity=item_popularity[order],
        item_traits=item_traits,
        item_quality=item_quality,
        preference_shift=config.drift.preference_shift,
    )
