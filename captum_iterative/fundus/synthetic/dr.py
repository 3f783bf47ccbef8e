"""Diabetic-retinopathy lesions of the synthetic generator, drawn to match a requested grade.

Sizes, contrasts, counts and which types appear together follow DiaretDB1's official train split
at 512 px (75 % reference; ``docs/synthetic.md`` gives the measurements and
``docs/scripts/lesion_statistics.py`` makes them). Sizes are in pixels of a 512 x 512 image,
scaled with the image (and ``lesion_scale``); a lesion is never drawn smaller than 0.75 px in
radius, so it keeps at least one visible pixel.

* microaneurysms: round dark-red dots, radius 1.1-2 px (4-12 px in area), darkening green by
  about 10-30 %, within 3 disc diameters (DD) of the fovea and never on a vessel;
* hemorrhages: round dots (radius 1.8-4 px) and irregular blots (4-16 px, log-uniform), darker
  in the middle and soft-edged, anywhere on the retina; flames (15-45 px long, 5-10 px wide)
  beside a vessel 0.8-3 DD from the disc and elongated along it; for grade 4 possibly a large
  boat-shaped preretinal hemorrhage with a flat upper fluid level, hiding the vessels under it;
* hard exudates: clusters of sharp-edged yellow-white dots (radius 1.2-3 px) and patches (3-8
  px) within 2.2 DD of the fovea, scattered, with patches, or in circinate rings; each cluster is
  one lesion whose mask is the convex region around its dots, as DiaretDB1's experts outlined
  exudate regions;
* soft exudates (cotton-wool spots): pale, fluffy blobs with blurred edges (radius 9-20 px)
  0.9-3 DD from the disc;
* neovascularization (grade 4): a fan of fine tortuous vessel loops on the disc (NVD) or on a
  vessel 0.8-3 DD from it (NVE).
"""

from __future__ import annotations

import math
from functools import partial

import cv2
import numpy as np

from captum_iterative.fundus.synthetic import colours, shapes
from captum_iterative.fundus.synthetic._window import patch_window
from captum_iterative.fundus.synthetic.anatomy import FundusGeometry
from captum_iterative.fundus.synthetic.canvas import LesionCanvas, retry
from captum_iterative.fundus.synthetic.colours import ColourFn
from captum_iterative.fundus.synthetic.grading import (
    SEVERE_HEMORRHAGES_PER_QUADRANT,
    quadrant,
    quadrants,
)
from captum_iterative.fundus.synthetic.placement import random_point
from captum_iterative.fundus.synthetic.vessels import VesselBranch

_SEVERE = SEVERE_HEMORRHAGES_PER_QUADRANT

#: Share of DiaretDB1's 23 train-split images with lesions that hold each type (21, 19, 18 and 6
#: images): in an image of grade 2 or more each type is present with this probability.
PRESENCE: dict[str, float] = {
    "hemorrhages": 21 / 23,
    "microaneurysms": 19 / 23,
    "hard_exudates": 18 / 23,
    "soft_exudates": 6 / 23,
}
#: Blending strength ``dark`` of :func:`~captum_iterative.fundus.synthetic.colours.blood` (1
#: darkest) of microaneurysms and hemorrhages: green darkened by about 10-30 %, as in DiaretDB1.
RED_DARKNESS = (0.3, 0.75)
#: The same for hemorrhages, whose middle is darker still (``core`` of ``blood``).
HEMORRHAGE_DARKNESS = (0.22, 0.4)
#: Per-channel (R, G, B) factor ranges on the retina under hard exudates (yellow-white: green
#: brightened 15-50 %) and cotton-wool spots (whiter, green 15-65 %), as in DiaretDB1.
_EXUDATE_COLOUR = ((1.05, 1.2, 0.95), (1.25, 1.9, 1.3))
_COTTON_WOOL_COLOUR = ((1.03, 1.2, 1.2), (1.15, 1.95, 1.8))


class _DRPainter:
    """Draws the DR lesions of one image on a :class:`LesionCanvas`."""

    def __init__(
        self,
        rng: np.random.Generator,
        canvas: LesionCanvas,
        geom: FundusGeometry,
        palette: np.ndarray,
        branches: list[VesselBranch],
        lesion_scale: float,
    ) -> None:
        self.rng = rng
        self.canvas = canvas
        self.geom = geom
        self.palette = palette
        self.branches = branches
        self.s = geom.scale * lesion_scale
        self.dd = geom.disc_diameter
        self._vessel_cache: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def radius(self, lo: float, hi: float) -> float:
        """A radius drawn uniformly in ``[lo, hi]`` px at 512, scaled, at least 0.75 px."""
        return max(0.75, self.rng.uniform(lo, hi) * self.s)

    def point(
        self, around: tuple[float, float], spread: float, clear: float, quad: int | None = None
    ) -> tuple[float, float] | None:
        return random_point(self.rng, self.geom, around, spread, clear, quad)

    def red(self, dark: float, core: float | None = None) -> ColourFn:
        return colours.blood(self.rng, dark, core)

    def pale(self, low: tuple[float, float, float], high: tuple[float, float, float]) -> ColourFn:
        return colours.brighten(self.rng, np.asarray(low), np.asarray(high))

    # -- lesions -------------------------------------------------------------------------------

    def log_radius(self, lo: float, hi: float) -> float:
        """A radius drawn log-uniformly in ``[lo, hi]`` px at 512, scaled, at least 0.75 px."""
        return max(0.75, math.exp(self.rng.uniform(math.log(lo), math.log(hi))) * self.s)

    def darkness(self, hemorrhage: bool = False) -> float:
        return float(self.rng.uniform(*(HEMORRHAGE_DARKNESS if hemorrhage else RED_DARKNESS)))

    def microaneurysm(self, center: tuple[float, float]) -> bool:
        r = self.radius(0.8, 1.4)
        return self.canvas.paint(
            "microaneurysms",
            "microaneurysm",
            center,
            r,
            r + 1.5,
            partial(shapes.disc, radius=r, edge=1.0),
            self.red(self.darkness()),
            avoid_vessels=True,
        )

    def hemorrhage(self, center: tuple[float, float], kind: str) -> bool:
        rng = self.rng
        if kind == "dot":
            r = self.radius(1.0, 3.5)
            shape = partial(shapes.disc, radius=r, edge=1.5)
            return self.canvas.paint(
                "hemorrhages", kind, center, r, r + 2, shape, self.red(self.darkness(True), r)
            )
        r = self.log_radius(4.0, 28.0)
        harm = shapes.random_harmonics(rng, 2, 0.3)
        aspect, angle = rng.uniform(1.0, 1.6), rng.uniform(0, math.pi)
        return self.canvas.paint(
            "hemorrhages",
            "blot",
            center,
            r,
            1.5 * r * aspect + 3,
            partial(
                shapes.blob,
                radius=r,
                harmonics=harm,
                edge=max(1.5, 0.3 * r),
                aspect=aspect,
                angle=angle,
            ),
            self.red(self.darkness(True), r),
        )

    def flame(self, quad: int | None) -> bool:
        """A flame hemorrhage beside a vessel 0.8-3 DD from the disc (in ``quad`` if given)."""
        rng, g = self.rng, self.geom
        pts, heading, width = self._vessel_points(quad)
        if len(pts) == 0:
            return False
        for _ in range(10):
            i = int(rng.integers(len(pts)))
            length = max(3.0, rng.uniform(15.0, 50.0) * self.s)
            fat = max(1.6, rng.uniform(5.0, 12.0) * self.s)
            normal = np.array([-math.sin(heading[i]), math.cos(heading[i])])
            side = 1.0 if rng.random() < 0.5 else -1.0
            center = pts[i] + side * normal * (width[i] / 2 + fat / 2 + 1.0)
            away = math.atan2(center[1] - g.disc_center[1], center[0] - g.disc_center[0])
            angle = heading[i] if math.cos(heading[i] - away) >= 0 else heading[i] + math.pi
            c = (float(center[0]), float(center[1]))
            if quad is not None and quadrant(c, g.fovea_center) != quad:
                continue
            if math.dist(c, g.disc_center) < g.disc_radius * 1.25 + length / 2:
                continue
            ok = self.canvas.paint(
                "hemorrhages",
                "flame",
                c,
                length / 2,
                length / 2 + 2,
                partial(shapes.flame, length=length, width=fat, angle=angle, edge=1.5),
                self.red(self.darkness(True), fat),
            )
            if ok:
                return True
        return False

    def _vessel_points(self, quad: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points, headings and widths of vessels wider than 1.5 px (at 512) 0.8-3 DD from the
        disc, in quadrant ``quad`` of the fovea when given."""
        if self._vessel_cache is None:
            g = self.geom
            pts, heads, widths = [], [], []
            for br in self.branches:
                d = np.diff(br.points, axis=0)
                pts.append(br.points[:-1])
                heads.append(np.arctan2(d[:, 1], d[:, 0]))
                widths.append(br.widths[:-1])
            p, h, w = np.concatenate(pts), np.concatenate(heads), np.concatenate(widths)
            dist = np.hypot(p[:, 0] - g.disc_center[0], p[:, 1] - g.disc_center[1])
            keep = (dist > 0.8 * self.dd) & (dist < 3.0 * self.dd) & (w > 1.5 * g.scale)
            q = quadrants(p[keep], g.fovea_center)
            self._vessel_cache = (p[keep], h[keep], w[keep], q)
        p, h, w, q = self._vessel_cache
        if quad is None:
            return p, h, w
        sel = q == quad
        return p[sel], h[sel], w[sel]

    def hard_exudate_cluster(self) -> bool:
        """A cluster of hard exudates on the posterior pole, annotated as one region lesion.

        Its dots and patches are painted one by one; its mask is the convex region around them
        (the way DiaretDB1's experts outlined exudates), reserved before anything is painted so
        that it touches no lesion of another type.
        """
        rng, g = self.rng, self.geom
        spread = self.dd * math.exp(rng.uniform(math.log(0.02), math.log(1.4))) * self.s / g.scale
        centre = self.point(g.fovea_center, 2.2 * self.dd, spread + 4 * self.s)
        if centre is None:
            return False
        style = rng.choice(["scatter", "patch", "ring"], p=[0.4, 0.35, 0.25])
        angles = rng.uniform(0, 2 * math.pi, size=int(rng.integers(6, 20)))
        if style == "ring":
            reach = spread * rng.uniform(0.85, 1.15, size=angles.size)
        else:
            angles = angles[: int(rng.integers(1, angles.size + 1))]
            reach = spread * np.sqrt(rng.random(angles.size))
        spots = [
            (centre[0] + d * math.cos(a), centre[1] + d * math.sin(a), self.radius(1.2, 3.0))
            for a, d in zip(angles, reach, strict=True)
        ]
        if style == "patch":
            for _ in range(int(rng.integers(1, 4))):
                a, d = rng.uniform(0, 2 * math.pi), 0.5 * spread * math.sqrt(rng.random())
                spots.append(
                    (centre[0] + d * math.cos(a), centre[1] + d * math.sin(a), self.radius(3, 8))
                )
        rows, cols, region = self._hull(centre, spots)
        if not self.canvas.fits("hard_exudates", rows, cols, region):
            return False
        blobs = []
        for x, y, r in spots:
            patch = r > 2.5 * self.s  # rougher outlines for patches than for dots, at any size
            harm = shapes.random_harmonics(rng, 2, 0.3 if patch else 0.1)
            blobs.append((x - centre[0], y - centre[1], r, harm))
        extent = max(math.hypot(x, y) + 1.5 * r + 2 for x, y, r, _ in blobs)
        painted = self.canvas.paint(
            "hard_exudates",
            str(style),
            centre,
            spread,
            extent,
            partial(shapes.cluster, blobs=blobs),
            self.pale(*_EXUDATE_COLOUR),
            annotate=False,
        )
        if painted:
            self.canvas.annotate("hard_exudates", str(style), centre, spread, rows, cols, region)
        return painted

    def _hull(
        self, centre: tuple[float, float], spots: list[tuple[float, float, float]]
    ) -> tuple[slice, slice, np.ndarray]:
        """The convex region around ``spots`` ``(x, y, r)`` as a bool patch ``(rows, cols)``."""
        extent = max(math.dist(centre, (x, y)) + 1.5 * r + 2 for x, y, r in spots)
        rows, cols, _, _ = patch_window(self.canvas.size, centre, extent)
        drawn = np.zeros((rows.stop - rows.start, cols.stop - cols.start), np.uint8)
        for x, y, r in spots:
            at = (round((x - cols.start) * 16), round((y - rows.start) * 16))
            cv2.circle(drawn, at, round(r * 16), 1, -1, cv2.LINE_8, 4)
        points = cv2.findNonZero(drawn)
        region = np.zeros_like(drawn)
        if points is not None:
            cv2.fillConvexPoly(region, cv2.convexHull(points), 1)
        return rows, cols, region.astype(bool)

    def soft_exudate(self) -> bool:
        """A cotton-wool spot: a pale, translucent, fluffy blob with a wide soft edge."""
        rng, g = self.rng, self.geom
        centre = self.point(g.disc_center, 3.0 * self.dd, 0.3 * self.dd)
        if centre is None or math.dist(centre, g.disc_center) < 0.9 * self.dd:
            return False
        r = self.radius(6.5, 17.0)
        aspect = rng.uniform(1.0, 1.8)
        edge = max(1.0, 0.6 * r)
        half = math.ceil(aspect * r * 1.3 + edge) + 2
        fluff = cv2.resize(rng.random((6, 6), dtype=np.float32), (2 * half + 1, 2 * half + 1))
        blob = partial(
            shapes.blob,
            radius=r,
            harmonics=shapes.random_harmonics(rng, 2, 0.25),
            edge=edge,
            aspect=aspect,
            angle=rng.uniform(0, math.pi),
            peak=rng.uniform(0.85, 1.0),
        )
        return self.canvas.paint(
            "soft_exudates",
            "cotton_wool",
            centre,
            r,
            half - 1,
            partial(shapes.textured, shape=blob, texture=fluff, depth=0.35),
            self.pale(*_COTTON_WOOL_COLOUR),
        )

    def preretinal(self) -> bool:
        """A boat-shaped preretinal hemorrhage 0.3-0.6 DD in radius, clear of the fovea."""
        rng, g = self.rng, self.geom
        for _ in range(10):
            r = max(3.0, self.dd * rng.uniform(0.3, 0.6) * self.s / g.scale)
            centre = self.point(g.disc_center, 3.0 * self.dd, r + 1)
            if centre is None or math.dist(centre, g.fovea_center) < r + 0.3 * self.dd:
                continue
            if self.canvas.paint(
                "hemorrhages",
                "preretinal",
                centre,
                r,
                r + 2,
                partial(shapes.boat, radius=r, level=-r * rng.uniform(0.1, 0.6), edge=1.5),
                colours.pooled(np.array([0.65, 0.3, 0.35])),
            ):
                return True
        return False

    def neovascularization(self) -> bool:
        """A fan of fine vessel loops from one base point, on the disc or beside an arcade."""
        rng, g = self.rng, self.geom
        for _ in range(10):
            if rng.random() < 0.5:
                a = rng.uniform(0, 2 * math.pi)
                rr = g.disc_radius * rng.uniform(0.3, 0.9)
                base = (g.disc_center[0] + rr * math.cos(a), g.disc_center[1] + rr * math.sin(a))
                kind = "disc"
            else:
                pts, _, _ = self._vessel_points(None)
                if len(pts) == 0:
                    return False
                x, y = pts[int(rng.integers(len(pts)))]
                base, kind = (float(x), float(y)), "elsewhere"
            reach = self.dd * rng.uniform(0.4, 0.8) * self.s / g.scale
            half = math.ceil(reach) + 3
            drawing = np.zeros((2 * half + 1, 2 * half + 1), np.uint8)
            loops = shapes.fan(rng, reach, int(rng.integers(6, 14)), (half, half))
            cv2.polylines(drawing, loops, False, 255, max(1, round(0.8 * self.s)), cv2.LINE_AA, 4)
            if self.canvas.paint(
                "neovascularization",
                kind,
                (float(round(base[0])), float(round(base[1]))),
                reach,
                half - 1,
                partial(shapes.raster, image=drawing.astype(np.float32) * np.float32(0.9 / 255)),
                colours.solid(self.palette * np.array([0.8, 0.3, 0.4]) * rng.uniform(0.8, 1.0)),
            ):
                return True
        return False


def draw_dr_lesions(
    rng: np.random.Generator,
    canvas: LesionCanvas,
    geom: FundusGeometry,
    grade: int,
    palette: np.ndarray,
    branches: list[VesselBranch],
    lesion_scale: float = 1.0,
) -> None:
    """Draw lesions consistent with an ICDR grade on ``canvas`` (in place).

    Grade 1 draws microaneurysms only; from grade 2 on, microaneurysms, hemorrhages, hard-exudate
    clusters and cotton-wool spots are each present with their :data:`PRESENCE` (at least one
    besides microaneurysms); grade 2 keeps at least one quadrant under the severe count; grade 3
    puts at least
    :data:`~captum_iterative.fundus.synthetic.grading.SEVERE_HEMORRHAGES_PER_QUADRANT`
    hemorrhages in every quadrant; grade 4 adds neovascularization and/or a preretinal
    hemorrhage to a moderate or severe picture. Placement can fail (no room), so the caller
    checks the resulting grade with
    :func:`~captum_iterative.fundus.synthetic.grading.grade_dr`.

    Args:
        rng (numpy.random.Generator): source of randomness.
        canvas (LesionCanvas): canvas with the DR lesion types and ``"neovascularization"``.
        geom (FundusGeometry): the image geometry.
        grade (int): the ICDR grade 0-4 to draw.
        palette (numpy.ndarray): ``(3,)`` background RGB, which sets the deposits' colours.
        branches (list[VesselBranch]): the vessel tree (flame hemorrhages and NVE follow it).
        lesion_scale (float, optional): factor on lesion sizes. Default: 1.0
    """
    if grade == 0:
        return
    p = _DRPainter(rng, canvas, geom, palette, branches, lesion_scale)
    fovea, dd = geom.fovea_center, geom.disc_diameter
    if grade == 4:
        proliferative = rng.random()
        if proliferative < 0.85:
            retry(p.neovascularization)
        if proliferative >= 0.85 or rng.random() < 0.35:
            retry(p.preretinal)
    severe = grade == 3 or (grade == 4 and rng.random() < 0.5)
    present = {"microaneurysms"} if grade == 1 else _present_types(rng, severe)
    per_quadrant = [0, 0, 0, 0]
    if severe:
        per_quadrant = [_SEVERE + int(rng.poisson(2.0)) for _ in range(4)]
    elif "hemorrhages" in present:
        per_quadrant = [min(int(rng.poisson(1.5)), _SEVERE + 1) for _ in range(4)]
        per_quadrant[int(rng.integers(4))] += sum(per_quadrant) == 0  # at least one
        mild_quadrant = int(rng.integers(4))
        per_quadrant[mild_quadrant] = min(per_quadrant[mild_quadrant], _SEVERE - 1)
    for quad, count in enumerate(per_quadrant):
        for _ in range(count):
            retry(partial(_hemorrhage_in, p, quad))
    if "soft_exudates" in present:
        for _ in range(1 + int(rng.poisson(1.0 if severe else 0.5))):
            retry(p.soft_exudate)
    if "hard_exudates" in present:
        for _ in range(1 + int(rng.poisson(2.0))):
            retry(p.hard_exudate_cluster)
    if "microaneurysms" in present:
        n_ma = 1 + int(rng.poisson({1: 3.0, 2: 4.0}.get(grade, 8.0)))
        drawn = 0
        for _ in range(n_ma * 3):
            centre = p.point(fovea, 3.0 * dd, 2.0)
            if centre is not None and p.microaneurysm(centre):
                drawn += 1
            if drawn == n_ma:
                break


def _present_types(rng: np.random.Generator, severe: bool) -> set[str]:
    """The lesion types of an image of grade 2 or more, each with its :data:`PRESENCE`, drawn
    until one besides microaneurysms is present (hemorrhages always, when ``severe``)."""
    while True:
        present = {t for t, share in PRESENCE.items() if rng.random() < share}
        if severe:
            present.add("hemorrhages")
        if present - {"microaneurysms"}:
            return present


def _hemorrhage_in(p: _DRPainter, quad: int | None) -> bool:
    """One dot, blot or flame hemorrhage, in quadrant ``quad`` of the fovea when given."""
    kind = p.rng.choice(["dot", "blot", "flame"], p=[0.4, 0.4, 0.2])
    if kind == "flame" and p.flame(quad):
        return True
    centre = p.point(p.geom.fovea_center, 1.1 * p.geom.radius, 4.0 * p.s, quad)
    return centre is not None and p.hemorrhage(centre, "dot" if kind == "dot" else "blot")
