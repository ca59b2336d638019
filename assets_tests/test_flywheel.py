"""The closed loop on a small world, as `make flywheel` runs it (the CLI, in a home of its own):
simulated users against the live service over HTTP, the platform turning by its own sensors
and automation, and two canaries decided by the platform alone: a miscalibrated challenger
rolled back within a bounded number of lists, and a better one promoted."""

import json
import subprocess

import pytest

from dataflywheel.lifecycle.canary import CANARY_TAG, DECISION_TAG, PROMOTED, ROLLED_BACK
from dataflywheel.lifecycle.registry import Registry
from dataflywheel.monitoring.alerts import SqliteAlertSink
from homes import VENV_BIN, point_at_new_home

pytestmark = pytest.mark.slow

DAYS, HISTORY_DAYS = 3, 1


@pytest.fixture(scope="module")
def flywheel(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        config = point_at_new_home(tmp_path_factory.mktemp("flywheel"), monkeypatch)
        command = [str(VENV_BIN / "dataflywheel"), "flywheel", "--days", str(DAYS), "--history-days"]
        command += [str(HISTORY_DAYS), "--events-per-day", "20000", "--episodes", "miscalibrated,recovery"]
        command += ["--canary-share", "0.5", "--step-hours", "6"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=1_500)
        assert done.returncode == 0, done.stdout[-3_000:] + done.stderr[-3_000:]
    return config, json.loads((config.home / "flywheel.json").read_text()), done.stdout


def test_the_service_served_every_request_and_the_platform_learned_from_them(flywheel):
    _, report, _ = flywheel
    assert report["failed_runs"] == []
    days = report["days"]
    assert [d["day"] for d in days] == list(range(HISTORY_DAYS, HISTORY_DAYS + DAYS))
    assert all(d["requests"] > 300 and d["events_accepted"] == d["events_sent"] for d in days)
    # New champions reached the service during the week: it served more than one model version a day.
    assert all(len(d["versions"]) > 1 for d in days)
    for row in report["regret"]:
        assert row["clicks/random"] < row["clicks/served"] < row["clicks/oracle"]


def test_a_miscalibrated_challenger_is_rolled_back_within_a_bounded_number_of_lists(flywheel):
    config, report, stdout = flywheel
    episode = next(e for e in report["episodes"] if e["name"] == "miscalibrated")
    assert episode["outcome"] == "rolled back", episode["reasons"]
    assert "predicted / observed" in episode["reasons"]
    assert 0 < episode["judged_lists"] <= 1_000  # decided on at most this many of its lists
    registry = Registry(config.mlflow_uri, config.mlflow_artifact_root)
    tags = registry.version(episode["version"]).tags
    assert tags[CANARY_TAG] == ROLLED_BACK and "predicted / observed" in tags[DECISION_TAG]
    alerts = [a for a in SqliteAlertSink(config.alerts_path).read() if a.kind == "canary_rollback"]
    assert [a.subject for a in alerts] == [f"ranker version {episode['version']}"]
    assert "miscalibrated" in stdout and "rolled back" in stdout


def test_a_better_challenger_is_promoted(flywheel):
    """The recovery episode: an inverted model promoted by hand; the champion it replaced comes
    back as a challenger and wins its canary on live clicks."""
    config, report, _ = flywheel
    episode = next(e for e in report["episodes"] if e["name"] == "recovery")
    assert episode["outcome"] == "promoted", episode["reasons"]
    assert "clicks per list +" in episode["reasons"]
    registry = Registry(config.mlflow_uri, config.mlflow_artifact_root)
    assert registry.version(episode["version"]).tags[CANARY_TAG] == PROMOTED
    # Promoted as it was, or caught up first on the hours the chain learned during its canary.
    caught_up = registry.client.search_model_versions(
        f"name = 'ranker' and tags.caught_up_from = '{episode['version']}'"
    )
    promoted = (caught_up[0] if caught_up else registry.version(episode["version"])).tags
    assert promoted["promotion_reason"].startswith("canary: clicks per list +") and "promoted_at" in promoted
