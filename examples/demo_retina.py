"""Wrap a Captum attributor in three lines: GuidedBackprop on scikit-image's real retina image.

The classifier is timm's tiny random-weight ``test_resnet`` (no download is possible here), so
the maps show the method's mechanics (explain, binarize, inpaint, re-predict), not lesions; the
fundus example (``examples/fundus_dr.py``) uses a trained classifier.

    python examples/demo_retina.py --out out/demo
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import timm
import torch
from captum.attr import GuidedBackprop
from skimage.data import retina

from captum_iterative import IterativeAugmentation, NavierStokesInpainter
from captum_iterative.viz import plot_iterations


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/demo"), help="output folder (default: out/demo)"
    )
    parser.add_argument("--size", type=int, default=256, help="image size in pixels (default: 256)")
    parser.add_argument("--max-iter", type=int, default=8, help="most maps per image (default: 8)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=1).eval()
    image = cv2.resize(retina(), (args.size, args.size), interpolation=cv2.INTER_AREA)
    images = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        score = float(model(images))
    # A threshold below the first score so the loop runs; with a trained model use th_pred.
    threshold = score - 0.01

    explainer = IterativeAugmentation(
        GuidedBackprop(model),
        threshold=threshold,
        inpainter=NavierStokesInpainter(radius=3, value_range=(0.0, 1.0)),
        max_iter=args.max_iter,
        keep_history=True,
    )
    result = explainer.explain(images, show_progress=True)
    print(
        f"score {score:.4f} -> {float(result.final_score[0]):.4f} after "
        f"{int(result.iterations[0])} maps ({result.stop_reason[0]})"
    )
    fig = plot_iterations(result, images[0])
    path = args.out / "retina_loop.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
