"""The README's closed-loop figure: click rate per shown slot by simulated day, the platform's
served lists against the oracle, most-popular-in-tenant and random, from a `make flywheel`
report (``flywheel.json``).

    .venv/bin/python -m bench.flywheel_plot .dataflywheel/flywheel/flywheel.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "img" / "flywheel_ctr.png"
LINES = {
    "served": "the platform (served)",
    "oracle": "oracle (true best k)",
    "popular": "most popular",
    "random": "random",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    args = parser.parse_args()
    report = json.loads(args.report.read_text())
    rows = report["regret"]
    days = [r["day"] - report["options"]["history_days"] + 1 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for policy, label in LINES.items():
        ax.plot(days, [r[f"clicks/{policy}"] for r in rows], marker="o", label=label)
    started: dict[int, list[str]] = {}  # closed-loop day -> the canaries started on it
    for episode in report["episodes"]:
        if episode["day"] is not None:
            started.setdefault(episode["day"] - report["options"]["history_days"] + 1, []).append(episode["name"])
    for day, names in started.items():
        ax.axvline(day, color="grey", lw=0.5, ls=":")
        ax.annotate(", ".join(names), (day, ax.get_ylim()[1]), fontsize=7, rotation=90, va="top", ha="right")
    ax.set_xlabel("closed-loop day")
    ax.set_ylabel("true click rate per slot")
    ax.set_title("Served lists against the oracle and the baselines", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=120)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
