"""Age-related macular degeneration lesions of the synthetic generator, drawn for a stage.

Drusen sizes are physical (micrometres, converted with the image's disc diameter of 1800 um),
because AREDS staging depends on them: small 30-62 um, intermediate 63-124 um, large 125-350 um
in diameter. At 512 px a disc diameter is about 65 px, so small drusen are 1-2 px across.

* drusen: yellowish round deposits with soft edges, within about 1.6 disc diameters (DD) of the
  fovea;
* pigment: small dark-brown irregular clumps on the macula;
* geographic atrophy: a sharply bordered pale lobulated area (0.35-0.8 DD in radius) through
  which choroidal vessels show, on the fovea (central, stage 3) or beside it (non-central);
* neovascular lesion: a grey-green membrane near the fovea with a rim of subretinal blood.
"""

from __future__ import annotations

import math
from functools import partial

import cv2
import numpy as np

from captum_iterative.fundus.synthetic import colours, shapes
from captum_iterative.fundus.synthetic.anatomy import FundusGeometry
from captum_iterative.fundus.synthetic.canvas import LesionCanvas, ShapeFn, retry
from captum_iterative.fundus.synthetic.colours import ColourFn
from captum_iterative.fundus.synthetic.grading import (
    DRUSEN_LARGE_UM,
    DRUSEN_SMALL_UM,
    INTERMEDIATE_DRUSEN_EXTENSIVE,
    drusen_kind,
)
from captum_iterative.fundus.synthetic.placement import random_point

_ROUND = np.zeros((0, 2))  # no harmonics: a round blob
_DRUSEN_UM = {
    "small": (30.0, DRUSEN_SMALL_UM - 1.0),
    "intermediate": (DRUSEN_SMALL_UM, DRUSEN_LARGE_UM - 1.0),
    "large": (DRUSEN_LARGE_UM, 350.0),
}


class _AMDPainter:
    """Draws the AMD lesions of one image on a :class:`LesionCanvas`."""

    def __init__(
        self,
        rng: np.random.Generator,
        canvas: LesionCanvas,
        geom: FundusGeometry,
        palette: np.ndarray,
        lesion_scale: float,
    ) -> None:
        self.rng = rng
        self.canvas = canvas
        self.geom = geom
        self.palette = palette
        self.lesion_scale = lesion_scale
        self.dd = geom.disc_diameter

    def point(self, spread: float, clear: float) -> tuple[float, float] | None:
        return random_point(self.rng, self.geom, self.geom.fovea_center, spread, clear)

    def deposit(
        self, gain: tuple[float, float, float], offset: tuple[float, float, float]
    ) -> ColourFn:
        return colours.deposit(self.rng, self.palette, gain, offset)

    def druse(self, kind: str) -> bool:
        rng = self.rng
        diameter = rng.uniform(*_DRUSEN_UM[kind])
        r = max(0.75, diameter / 2 * self.geom.px_per_um * self.lesion_scale)
        centre = self.point(1.6 * self.dd, r + 2)
        if centre is None:
            return False
        edge = max(0.8, 0.45 * r)
        return self.canvas.paint(
            "drusen",
            drusen_kind(diameter),
            centre,
            r,
            r + edge + 2,
            partial(shapes.blob, radius=r, harmonics=_ROUND, edge=edge, peak=rng.uniform(0.85, 1)),
            self.deposit((1.3, 2.2, 2.0), (35.0, 40.0, 8.0)),
            diameter_um=diameter,
        )

    def pigment(self) -> bool:
        rng = self.rng
        r = max(0.75, rng.uniform(1.5, 3.5) * self.geom.scale * self.lesion_scale)
        centre = self.point(1.4 * self.dd, r + 2)
        if centre is None:
            return False
        harm = shapes.random_harmonics(rng, 3, 0.45)
        keep = (1.0 - np.array([0.6, 0.62, 0.5]) * rng.uniform(0.8, 1.0)).astype(np.float32)
        return self.canvas.paint(
            "pigment",
            "hyperpigmentation",
            centre,
            r,
            1.5 * r + 2,
            partial(shapes.blob, radius=r, harmonics=harm),
            colours.darken(keep),
            diameter_um=2 * r / self.geom.px_per_um,
        )

    def atrophy(self, central: bool) -> bool:
        rng, g = self.rng, self.geom
        for _ in range(10):
            r = self.dd * rng.uniform(0.35, 0.8) * self.lesion_scale
            if central:
                a, off = rng.uniform(0, 2 * math.pi), rng.uniform(0.0, 0.4) * r
            else:
                a, off = rng.uniform(0, 2 * math.pi), r * 1.5 + self.dd * rng.uniform(0.3, 0.8)
            x, y = g.fovea_center[0] + off * math.cos(a), g.fovea_center[1] + off * math.sin(a)
            if math.dist((x, y), g.disc_center) < g.disc_radius * 1.3 + 1.5 * r:
                continue
            choroid = _choroid(rng, math.ceil(1.5 * r) + 2, self.dd * 0.05)
            if self.canvas.paint(
                "atrophy",
                "central" if central else "noncentral",
                (x, y),
                r,
                1.5 * r + 2,
                partial(
                    shapes.blob, radius=r, harmonics=shapes.random_harmonics(rng, 4, 0.3), edge=1.5
                ),
                partial(
                    _atrophy_colour,
                    pale=self.deposit((1.2, 1.6, 1.9), (25.0, 15.0, 8.0)),
                    choroid=choroid,
                ),
                diameter_um=2 * r / g.px_per_um,
            ):
                return True
        return False

    def neovascular(self) -> bool:
        """A grey-green membrane within 0.6 DD of the fovea with an offset rim of blood."""
        rng, g = self.rng, self.geom
        for _ in range(10):
            r = self.dd * rng.uniform(0.25, 0.45) * self.lesion_scale
            centre = self.point(0.6 * self.dd, 2.2 * r)
            if centre is None:
                continue
            a = rng.uniform(0, 2 * math.pi)
            membrane = partial(
                shapes.blob, radius=r, harmonics=shapes.random_harmonics(rng, 3, 0.3), edge=2.0
            )
            rim = partial(
                shapes.blob,
                radius=1.6 * r,
                harmonics=shapes.random_harmonics(rng, 4, 0.4),
                edge=1.5,
            )
            shift = r * rng.uniform(0.2, 0.6) * np.array([math.cos(a), math.sin(a)])
            if self.canvas.paint(
                "neovascular",
                "choroidal",
                centre,
                1.6 * r,
                2.6 * r + 2,
                partial(_cnv_shape, membrane=membrane, rim=rim, shift=shift),
                partial(
                    _cnv_colour,
                    membrane=membrane,
                    grey=self.deposit((0.75, 1.6, 3.2), (10.0, 20.0, 25.0)),
                    blood=colours.darken(np.array([0.65, 0.3, 0.4])),
                ),
                diameter_um=3.2 * r / g.px_per_um,
            ):
                return True
        return False


def _atrophy_colour(
    patch: np.ndarray, dx: np.ndarray, dy: np.ndarray, pale: ColourFn, choroid: np.ndarray
) -> np.ndarray:
    """Pale atrophic retina with the choroidal vessels of ``choroid`` showing through."""
    shade = np.stack([shapes.raster(dx, dy, plane) for plane in choroid])
    return pale(patch, dx, dy) * shade


def _cnv_shape(
    dx: np.ndarray, dy: np.ndarray, membrane: ShapeFn, rim: ShapeFn, shift: np.ndarray
) -> np.ndarray:
    """Union of the membrane and the blood rim centred ``shift`` pixels away."""
    return np.maximum(membrane(dx, dy), rim(dx - np.float32(shift[0]), dy - np.float32(shift[1])))


def _cnv_colour(
    patch: np.ndarray,
    dx: np.ndarray,
    dy: np.ndarray,
    membrane: ShapeFn,
    grey: ColourFn,
    blood: ColourFn,
) -> np.ndarray:
    """Grey-green over the membrane, blood elsewhere."""
    red = blood(patch, dx, dy)
    return red + membrane(dx, dy) * (grey(patch, dx, dy) - red)


def _choroid(rng: np.random.Generator, half: int, width: float) -> np.ndarray:
    """``(3, 2 half + 1, 2 half + 1)`` ``float32`` per-channel shading: orange-red choroidal
    vessels seen through the atrophic retina."""
    size = 2 * half + 1
    draw = np.zeros((size, size), np.uint8)
    for _ in range(int(rng.integers(5, 10))):
        a = rng.uniform(0, math.pi)
        c = rng.uniform(-half, half, size=2)
        t = np.linspace(-1.5 * half, 1.5 * half, 24)
        bend = rng.uniform(-0.3, 0.3) * half * np.sin(math.pi * t / (1.5 * half))
        xs = half + c[0] + t * math.cos(a) - bend * math.sin(a)
        ys = half + c[1] + t * math.sin(a) + bend * math.cos(a)
        pts = np.rint(np.stack([xs, ys], axis=1) * 16).astype(np.int32)
        cv2.polylines(draw, [pts], False, 255, max(1, round(width)), cv2.LINE_AA, 4)
    blurred = np.asarray(cv2.GaussianBlur(draw, (0, 0), max(0.6, width / 3)))
    shade = blurred.astype(np.float32) * np.float32(1.0 / 255.0)
    return 1.0 - np.array([0.08, 0.3, 0.4], dtype=np.float32)[:, None, None] * shade


def draw_amd_lesions(
    rng: np.random.Generator,
    canvas: LesionCanvas,
    geom: FundusGeometry,
    stage: int,
    palette: np.ndarray,
    lesion_scale: float = 1.0,
) -> None:
    """Draw lesions consistent with an AREDS-like AMD stage on ``canvas`` (in place).

    Stage 1 draws small and a few intermediate drusen (and sometimes pigment); stage 2 adds
    large drusen or extensive intermediate drusen (sometimes non-central atrophy); stage 3 adds
    a neovascular lesion and/or central geographic atrophy. The caller checks the resulting
    stage with :func:`~captum_iterative.fundus.synthetic.grading.stage_amd`.

    Args:
        rng (numpy.random.Generator): source of randomness.
        canvas (LesionCanvas): canvas with the AMD lesion types.
        geom (FundusGeometry): the image geometry.
        stage (int): the AMD stage 0-3 to draw.
        palette (numpy.ndarray): ``(3,)`` background RGB, which sets the deposits' colours.
        lesion_scale (float, optional): factor on lesion sizes. Default: 1.0
    """
    if stage == 0:
        return
    p = _AMDPainter(rng, canvas, geom, palette, lesion_scale)
    if stage == 3:
        advanced = rng.random()
        if advanced < 0.6:
            retry(p.neovascular)
        if advanced >= 0.45:
            retry(lambda: p.atrophy(central=True))
    if stage >= 2:
        if stage == 2 and rng.random() < 0.15:
            retry(lambda: p.atrophy(central=False))
        if rng.random() < 0.7:
            n_large = 1 + int(rng.poisson(3.0))
            drawn = 0
            for _ in range(3 * n_large):
                drawn += p.druse("large")
                if drawn == n_large:
                    break
        else:
            for _ in range(INTERMEDIATE_DRUSEN_EXTENSIVE + int(rng.poisson(6.0))):
                retry(lambda: p.druse("intermediate"))
        n_intermediate = int(rng.poisson(5.0))
    else:
        n_intermediate = min(int(rng.poisson(3.0)), INTERMEDIATE_DRUSEN_EXTENSIVE - 1)
    for _ in range(n_intermediate):
        p.druse("intermediate")
    for _ in range(int(rng.integers(3, 30))):
        p.druse("small")
    if rng.random() < (0.3 if stage == 1 else 0.6):
        for _ in range(int(rng.integers(1, 5))):
            p.pigment()
    if not canvas.lesions:
        retry(lambda: p.druse("small") or p.druse("intermediate"))
