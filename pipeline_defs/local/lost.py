"""When moto's data is gone — moto died without `pipeline local down`, or the snapshot was removed —
`up` says exactly what was lost and the one command that rebuilds it from what survived.

``<state>/aws-live`` marks that moto holds data of this stack: written once `up` has a ready moto,
removed only by `down --wipe`. A fresh moto with the mark but without a snapshot to restore
(local/snapshot.py) has lost everything. PostgreSQL survives: ``ops.load_audit`` says which files
were loaded; the seeded ones are rebuilt by `pipeline seed` for the same days (pipeline_defs/seed.py
writes the same bytes for the same ``--days``/``--end``), and the upload sensor loads them again
(their upload events are new, so their run keys are too: pipeline_defs/uploads.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psycopg

from pipeline_defs.seed import seed_keys

LOST = ("every S3 object (raw uploads, lake partitions, quarantine files, reports), every DynamoDB item "
        "(the processing state, real-time metrics), queued SQS messages and Kinesis records")


def marker(local_dir: Path) -> Path:
    return local_dir / "aws-live"


def mark_live(local_dir: Path) -> None:
    marker(local_dir).touch()


@dataclass
class Survivors:
    """What PostgreSQL still knows about loaded files."""
    seeded_days: list[date] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)  # uploaded by hand: only their owner has them

    def rebuild_command(self) -> str | None:
        """One shell command that re-seeds exactly the seeded days, a contiguous range per `seed`."""
        if not self.seeded_days:
            return None
        runs: list[list[date]] = []
        for day in self.seeded_days:
            if runs and day - runs[-1][-1] == timedelta(days=1):
                runs[-1].append(day)
            else:
                runs.append([day])
        return " && ".join(f"pipeline seed --days {len(run)} --end {run[-1].isoformat()}" for run in runs)


def survivors(database_url: str) -> Survivors:
    with psycopg.connect(database_url, connect_timeout=10) as conn:
        rows = conn.execute("SELECT DISTINCT source_key, partition_date FROM ops.load_audit").fetchall()
    found = Survivors()
    days = set()
    for key, day in rows:
        if key in seed_keys(day):
            days.add(day)
        else:
            found.other_files.append(key)
    found.seeded_days = sorted(days)
    found.other_files.sort()
    return found


def lost_message(snapshot: Path, database_url: str) -> str:
    """What `up` says when the fresh moto has nothing to restore though this stack had data; the
    rebuild command stands alone at the end of its line."""
    head = (f"aws: moto's data is LOST — moto stopped without `pipeline local down` (killed, or the machine "
            f"went down), or the snapshot {snapshot} is missing.\n  lost: {LOST}")
    try:
        found = survivors(database_url)
    except psycopg.Error as exc:
        return f"{head}\n  PostgreSQL not readable ({type(exc).__name__}); rebuild the raw uploads with `pipeline seed`"
    if not found.seeded_days and not found.other_files:
        return f"{head}\n  kept: PostgreSQL, which has no loaded files, so nothing needs rebuilding"
    lines = [head]
    if found.seeded_days:
        first, last = found.seeded_days[0], found.seeded_days[-1]
        lines.append(f"  kept: PostgreSQL's rows, among them the seeded day(s) {first}..{last}; re-seeding them "
                     "makes the upload sensor load them again (lake, quarantine files and processing state come "
                     "back; the warehouse is not doubled)")
        lines.append(f"  rebuild with: {found.rebuild_command()}")
    if found.other_files:
        shown = ", ".join(found.other_files[:3]) + (", …" if len(found.other_files) > 3 else "")
        lines.append(f"  upload again yourself: {len(found.other_files)} file(s) not from the seed ({shown})")
    return "\n".join(lines)
