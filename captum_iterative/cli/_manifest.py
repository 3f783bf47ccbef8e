"""The run manifest of ``explain``: what each process did, gathered by rank 0, and the summary."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captum_iterative._env import software_versions
from captum_iterative._files import file_sha256
from captum_iterative.cli._distributed import Group
from captum_iterative.cli._inputs import MANIFEST, MANIFEST_FORMAT, Item
from captum_iterative.cli._options import PROG

if TYPE_CHECKING:
    from captum_iterative.cli._explain_run import ExplainRun

__all__ = ["MANIFEST", "MANIFEST_FORMAT", "Tally", "build_manifest", "summary_text"]

#: The fields of :class:`ExperimentConfig` that ``explain`` uses (recorded in the manifest).
_MAP_SETTINGS: tuple[str, ...] = (
    "methods",
    "max_iter",
    "alpha",
    "inpainter",
    "inpaint_radius",
    "use_fov",
    "batch_size",
    "device",
)


@dataclass
class Tally:
    """What one process did; gathered by rank 0 for the manifest and the summary."""

    rank: int
    images: int = 0
    done: set[str] = field(default_factory=set)
    #: images whose outputs were all there already (``--resume``)
    skipped: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: stop reason -> (image, method) pairs whose maps this process computed
    stop_reasons: Counter[str] = field(default_factory=Counter)

    def counts(self) -> dict[str, Any]:
        """``done``, ``skipped``, ``failed`` and ``not_reached`` (by an interrupted run) images."""
        done = len(self.done - self.failed)
        return {
            "rank": self.rank,
            "images": self.images,
            "done": done,
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "not_reached": self.images - done - len(self.skipped) - len(self.failed),
            "seconds": round(self.seconds, 3),
        }


def _image_list_sha256(items: Sequence[Item]) -> str:
    blob = "\n".join(f"{item.id}\t{item.source}" for item in items).encode()
    return hashlib.sha256(blob).hexdigest()


def build_manifest(
    args: argparse.Namespace,
    run: ExplainRun,
    group: Group,
    items: Sequence[Item],
    tallies: Sequence[Tally],
    temporary_files_removed: int,
    interrupted: str | None = None,
) -> dict[str, Any]:
    """The run's record; ``temporary_files_removed`` counts the temporary files of this
    program's interrupted runs removed at the start; ``interrupted`` names the signal that
    stopped it early, if any (the counts are then what was completed)."""
    ranks = [tally.counts() for tally in tallies]
    done = sum(r["done"] for r in ranks)
    busy = sum(r["seconds"] for r in ranks)
    classifier = dict(run.classifier.record)
    checkpoint = classifier.get("checkpoint") or classifier.get("weights")
    if checkpoint and Path(checkpoint).is_file():
        classifier["sha256"] = file_sha256(checkpoint)
    return {
        "format": MANIFEST_FORMAT,
        "command": shlex.join([PROG, *sys.argv[1:]]),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "settings": {
            **{key: getattr(run.config, key) for key in _MAP_SETTINGS},
            "cache_key": run.config.cache_key(),
            "size": run.classifier.size,
            "threshold": run.classifier.threshold,
            "preprocess": run.preprocess,
            "enhance": run.classifier.enhance,
            "square": run.classifier.square,
            "dataset": args.dataset,
            "dataset_options": dict(args.dataset_option),
            "resume": args.resume,
            "overwrite": args.overwrite,
            "deterministic": args.deterministic,
        },
        "classifier": classifier,
        "versions": software_versions(),
        "images": {"count": len(items), "sha256": _image_list_sha256(items)},
        "world_size": group.world,
        "backend": group.backend,
        "ranks": ranks,
        "totals": {
            "images": len(items),
            "done": done,
            "skipped": sum(r["skipped"] for r in ranks),
            "failed": sum(r["failed"] for r in ranks),
            "not_reached": sum(r["not_reached"] for r in ranks),
            "seconds_per_image": round(busy / done, 4) if done else None,
            "temporary_files_removed": temporary_files_removed,
            "stop_reasons": dict(sorted(sum((t.stop_reasons for t in tallies), Counter()).items())),
        },
        "failures": [f for tally in tallies for f in tally.failures],
        "warnings": [w for tally in tallies for w in tally.warnings],
    }


#: What the summary says about the stop reasons that leave an image without augmented maps.
_STOP_NOTES: dict[str, str] = {
    "not_abnormal": "scored below the threshold {threshold} at the start, so their maps are all "
    "zero, as in the paper; a lower --threshold explains them",
    "degenerate_map": "a constant or non-finite map, or an empty mask, ended the loop; the maps "
    "before it are kept (all zero when it was the first)",
    "nan_score": "the classifier scored an inpainted image NaN; the maps before it are kept",
}


def summary_text(manifest: dict[str, Any], out: Path, written: bool = True) -> str:
    """The summary printed at the end; ``written`` says whether the manifest could be written."""
    totals = manifest["totals"]
    per_image = totals["seconds_per_image"]
    timing = "" if per_image is None else f"; {per_image:.3f} s per image per process"
    unreached = f", {totals['not_reached']} not reached" if totals["not_reached"] else ""
    lines = [
        f"{PROG} explain: {totals['images']} image(s) x {len(manifest['settings']['methods'])} "
        f"method(s) on {manifest['world_size']} process(es): {totals['done']} done, "
        f"{totals['skipped']} skipped, {totals['failed']} failed{unreached}{timing}",
    ]
    if manifest["world_size"] > 1:
        lines.append(
            "  per process: "
            + ", ".join(
                f"rank {r['rank']} {r['done']}/{r['images']} in {r['seconds']:.1f} s"
                for r in manifest["ranks"]
            )
        )
    reasons = totals["stop_reasons"]
    if reasons:
        lines.append(
            "  stop reasons of the maps computed: "
            + ", ".join(f"{count} {reason}" for reason, count in reasons.items())
        )
    lines += [
        f"  {reason}: {note.format(threshold=manifest['settings']['threshold'])}"
        for reason, note in _STOP_NOTES.items()
        if reason in reasons
    ]
    manifest_note = f"manifest {out / MANIFEST}" if written else "no manifest (see the error)"
    lines.append(f"  outputs under {out}; {manifest_note}")
    return "\n".join(lines)
