"""The model registry: every ranker as a version in MLflow's registry, with aliases.

Each version carries its lineage as tags (Dagster partition and run, code version, the
data it learned from) and its metrics. ``champion`` is the line that serves and keeps
learning: each hourly update of it becomes the champion. ``challenger`` is a model
retrained from a recent window, waiting for the quality gate. Promotion and rollback are
one call each and leave a trail: tags on the versions and on the registered model.

The registry writes and reads the model files itself, by a path relative to the current
home's artifact root (the ``artifact`` tag), not through the absolute locations MLflow
records when an experiment or version is created: a copied or moved home reads and writes
its own files, never its source's.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from dataflywheel.ranking.ranker import Ranker

MODEL_NAME = "ranker"
EXPERIMENT = "ranker-hourly"
CHAMPION, CHALLENGER = "champion", "challenger"
REPLAY = "replay"  # registered_as of a re-run behind the chain's head: it moves no alias
TRAINED_THROUGH = "trained_through"  # on every version: the last hour it learned (ISO), what catch-ups start after
HISTORY_TAG = "champion_history"  # on the registered model: JSON list of replaced champions
GATE_TAG, GATE_PASSED, GATE_FAILED = "quality_gate", "passed", "failed"  # a challenger's own verdict
ARTIFACT = "ranker.pkl"
ARTIFACT_TAG = "artifact"  # on every version: its file, relative to the artifact root of the home it is in
PACKAGE_ROOT = Path(__file__).resolve().parents[1]
# What decides what a model learns: the vocabularies, the feature definitions, the examples, the
# inputs and the learner.
ML_SOURCES = (
    PACKAGE_ROOT / "contracts" / "vocabulary.py",
    *sorted((PACKAGE_ROOT / "features").glob("*.py")),
    *sorted((PACKAGE_ROOT / "ranking").glob("*.py")),
)


def code_version() -> str:
    """A hash of the ML code: two versions with the same value were trained by the same logic."""
    digest = hashlib.sha1()
    for path in ML_SOURCES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


class Registry:
    def __init__(self, tracking_uri: str, artifact_root: Path):
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.artifact_root = artifact_root

    def _experiment_id(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found:
            return found.experiment_id
        # An explicit artifact location: MLflow's default (./mlruns) would write outside the home folder.
        return self.client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root.as_uri())

    def register(
        self, ranker: Ranker, tags: dict[str, str], metrics: dict[str, float], alias: str | None = CHAMPION
    ) -> ModelVersion:
        """Log the model in a run of its own and register it as a new version under ``alias``:
        an hourly update of the champion line, or a challenger. ``alias=None``: a version that
        moves no alias (a re-run of an hour behind the chain's head)."""
        run = self.client.create_run(self._experiment_id(), tags=tags, run_name=tags.get("dagster_partition"))
        for name, value in metrics.items():
            self.client.log_metric(run.info.run_id, name, value)
        # MLflow's own layout under the artifact root: <experiment>/<run>/artifacts/<file>.
        relative = f"{run.info.experiment_id}/{run.info.run_id}/artifacts/{ARTIFACT}"
        path = self.artifact_root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{ARTIFACT}.tmp")
        tmp.write_bytes(pickle.dumps(ranker))
        os.replace(tmp, path)
        self.client.set_terminated(run.info.run_id)
        try:
            self.client.get_registered_model(MODEL_NAME)
        except MlflowException:
            self.client.create_registered_model(MODEL_NAME)
        version = self.client.create_model_version(
            MODEL_NAME, path.as_uri(), run_id=run.info.run_id, tags={**tags, ARTIFACT_TAG: relative}
        )
        if alias is not None:
            self.client.set_registered_model_alias(MODEL_NAME, alias, version.version)
        self.client.set_model_version_tag(MODEL_NAME, version.version, "registered_as", alias or REPLAY)
        return version

    def alias(self, alias: str) -> ModelVersion | None:
        try:
            return self.client.get_model_version_by_alias(MODEL_NAME, alias)
        except MlflowException:
            return None

    def version(self, version: str | int) -> ModelVersion:
        return self.client.get_model_version(MODEL_NAME, str(version))

    def load(self, version: str | int) -> Ranker:
        found = self.client.get_model_version(MODEL_NAME, str(version))
        if ARTIFACT_TAG in found.tags:
            return pickle.loads((self.artifact_root / found.tags[ARTIFACT_TAG]).read_bytes())
        # Registered before the tag existed: MLflow's absolute source, valid in the home that wrote it.
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=found.source, dst_path=tmp, tracking_uri=self.client.tracking_uri
            )
            return pickle.loads(Path(local).read_bytes())

    def champion_history(self) -> list[str]:
        """The champions that promotions replaced, oldest first: what rollbacks walk back through."""
        return json.loads(self.client.get_registered_model(MODEL_NAME).tags.get(HISTORY_TAG, "[]"))

    def promote(self, version: str | int, reason: str, remember: bool = True) -> None:
        """Make ``version`` the champion, recording the one it replaces in the history (a
        rollback does not: it walks the history back). The hourly chain continues from it: see
        ``lifecycle.promotion``."""
        current = self.alias(CHAMPION)
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.client.set_registered_model_alias(MODEL_NAME, CHAMPION, str(version))
        self.client.set_model_version_tag(MODEL_NAME, str(version), "promoted_at", now)
        self.client.set_model_version_tag(MODEL_NAME, str(version), "promotion_reason", reason)
        if remember and current is not None:
            history = [*self.champion_history(), str(current.version)]
            self.client.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(history))

    def rollback(self, reason: str) -> ModelVersion:
        """Give the champion alias back to the version the last promotion replaced, one step
        further back on each call; returns the champion now."""
        history = self.champion_history()
        if not history:
            raise ValueError("No earlier champion to roll back to.")
        *earlier, previous = history
        demoted = self.alias(CHAMPION)
        self.client.set_model_version_tag(
            MODEL_NAME, demoted.version, "rolled_back_at", datetime.now(timezone.utc).isoformat(timespec="seconds")
        )
        self.client.set_model_version_tag(MODEL_NAME, demoted.version, "rollback_reason", reason)
        self.promote(previous, reason=f"rollback: {reason}", remember=False)
        self.client.set_registered_model_tag(MODEL_NAME, HISTORY_TAG, json.dumps(earlier))
        return self.alias(CHAMPION)
