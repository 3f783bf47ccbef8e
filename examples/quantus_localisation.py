"""Initial vs augmented maps under Quantus's localisation metrics, on the synthetic default.

Needs the ``quantus`` extra (``pip install -e ".[quantus]"``). On the embedded default of
``examples/fundus_dr.py`` (synthetic DR fundus images with lesion masks from the project's
generator, and the classifier shipped in the package) it

1. keeps the images the classifier calls referable (score >= th_pred);
2. explains them with Saliency, guided backpropagation and Grad-CAM (the paper's settings:
   Otsu, Navier-Stokes r=3, up to 20 maps, alpha=0.6) through
   ``captum_iterative.integrations.quantus.explain_func``, once for the initial map and once
   for the augmented one;
3. scores both against the union of the lesion masks with Quantus's localisation metrics and
   prints a markdown table (mean over the images).

    python examples/quantus_localisation.py --images 24    # the table in docs/integrations.md
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import quantus
import torch

from captum_iterative.experiments import build_method, get_method, prepare_images
from captum_iterative.fundus import SyntheticFundusDataset, load_default_classifier
from captum_iterative.integrations import explain_func

#: Seed of the synthetic images, as in examples/fundus_dr.py (disjoint from the training seeds).
EXAMPLE_SEED = 2026
#: Quantus metrics compared (constructor defaults of quantus 0.6).
METRICS = (
    "PointingGame",
    "AttributionLocalisation",
    "TopKIntersection",
    "RelevanceRankAccuracy",
    "RelevanceMassAccuracy",
    "AUC",
)
#: Methods of the paper's Table I compared here (the three fastest on a CPU).
COMPARED = ("saliency", "guided_backprop", "grad_cam")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=24, help="synthetic images (default: 24)")
    parser.add_argument("--methods", default=",".join(COMPARED), help="methods to compare")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model, info = load_default_classifier()
    grades = [i % 5 for i in range(args.images)]  # as examples/fundus_dr.py
    dataset = SyntheticFundusDataset(
        args.images, size=info.input_size, seed=EXAMPLE_SEED, grades=grades
    )
    enhance = bool(info.preprocessing.get("enhance", True))
    prepared = prepare_images(dataset, info.input_size, enhance=enhance, progress=False)
    x = torch.stack([p.image for p in prepared])
    with torch.no_grad():
        scores = model(x)[:, 0]
    keep = (scores >= info.th_pred).nonzero()[:, 0].tolist()
    x_batch = x[keep].numpy()
    y_batch = np.zeros(len(keep), dtype=np.int64)  # one output: the labels are not used
    lesions = [np.any([m > 0 for m in prepared[i].masks.values()], axis=0) for i in keep]
    s_batch = np.stack(lesions)[:, None].astype(np.float32)
    print(f"{len(keep)} of {len(prepared)} synthetic images referable (th_pred {info.th_pred:.3f})")

    rows = []
    for name in (m.strip() for m in args.methods.split(",") if m.strip()):
        spec = get_method(name)
        settings = {
            "method": lambda m, name=name: build_method(name, m)[0],
            "threshold": info.th_pred,
            "channel_reduction": spec.channel_reduction,
            "attribute_kwargs": dict(spec.kwargs),
            "internal_batch_size": 4,
        }
        values = {}
        for kind in ("initial", "augmented"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Captum's per-call notes
                a_batch = explain_func(model, x_batch, y_batch, maps=kind, **settings)
            for metric_name in METRICS:
                metric = getattr(quantus, metric_name)(
                    disable_warnings=True, display_progressbar=False
                )
                result = metric(
                    model=model,
                    x_batch=x_batch,
                    y_batch=y_batch,
                    a_batch=a_batch,
                    s_batch=s_batch,
                    device="cpu",
                )
                values[metric_name, kind] = float(np.nanmean(np.asarray(result, dtype=float)))
        rows.append((spec.label, values))
        print(f"{spec.label}: done ({time.perf_counter() - started:.0f} s)")

    print()
    print("| method | maps | " + " | ".join(METRICS) + " |")
    print("|---|---|" + "---:|" * len(METRICS))
    for label, values in rows:
        for kind in ("initial", "augmented"):
            cells = " | ".join(f"{values[m, kind]:.3f}" for m in METRICS)
            print(f"| {label} | {kind} | {cells} |")
    print(f"\n{len(keep)} images, total time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
