"""The retinal vessel tree of a synthetic fundus: branching curves from the disc, rendered with AA.

Every branch is a smooth curve whose heading relaxes from a start angle to an end angle with a
few superposed wiggles (so curves are generated in one vectorised step, not point by point).
Eight trunks leave the disc (artery and vein, superior and inferior, temporal arcade and nasal),
plus thin papillomacular branches; each branch spawns thinner children at its side, and widths
taper along each branch and step down after each bifurcation. Branches stop at the border of the
field of view and short of the foveal avascular zone. Arteries are lighter and thinner than
veins and show a central light reflex.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from captum_iterative.fundus.synthetic.anatomy import FundusGeometry

_MAX_BRANCHES = 220
_SHIFT = 4  # fractional bits of the OpenCV drawing coordinates


@dataclass(frozen=True)
class VesselBranch:
    """One unbranched vessel segment.

    Attributes:
        points: ``(N, 2)`` ``float64`` ``(x, y)`` centre-line points, about one step apart.
        widths: ``(N,)`` ``float64`` vessel width in pixels at each point.
        vein: ``True`` for a vein, ``False`` for an artery.
    """

    points: np.ndarray
    widths: np.ndarray
    vein: bool


@dataclass(frozen=True)
class _Sprouts:
    """Parameters of a batch of branches to trace: one entry per branch, ``(m,)`` arrays."""

    starts: np.ndarray  # (m, 2)
    theta0: np.ndarray  # start heading, radians from temporal towards superior
    theta_end: np.ndarray  # heading the branch relaxes to
    relax: np.ndarray  # relaxation length in pixels
    length: np.ndarray  # length in pixels before truncation
    width: np.ndarray  # width at the start in pixels
    vein: np.ndarray  # bool


def _walk(
    rng: np.random.Generator, geom: FundusGeometry, sprouts: _Sprouts, step: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Trace a batch of curves whose heading relaxes from ``theta0`` to ``theta_end``.

    Three random sinusoids (wavelengths 0.4-2 DD) wiggle each heading. Returns per branch
    ``(points (N, 2), headings (N,))``, cut where the curve leaves the field of view, enters the
    foveal avascular zone, or reaches its length.
    """
    m = len(sprouts.length)
    n = max(2, int(sprouts.length.max() / step) + 1)
    s = np.arange(n) * step
    waves = rng.uniform(size=(m, 3, 3))
    wavelength = geom.disc_diameter * (0.4 + 1.6 * waves[..., 0])
    phase = (2 * math.pi / wavelength)[..., None] * s + (2 * math.pi * waves[..., 2])[..., None]
    wiggle = np.einsum("mk,mkn->mn", 0.12 * waves[..., 1], np.sin(phase))
    theta = sprouts.theta_end[:, None] + (sprouts.theta0 - sprouts.theta_end)[:, None] * np.exp(
        -s / sprouts.relax[:, None]
    )
    theta += wiggle
    (tx, ty), (sx, sy) = geom.temporal, geom.superior
    cos, sin = np.cos(theta[:, :-1]) * step, np.sin(theta[:, :-1]) * step
    x = np.empty((m, n))
    y = np.empty((m, n))
    x[:, 0], y[:, 0] = sprouts.starts[:, 0], sprouts.starts[:, 1]
    np.cumsum(cos * tx + sin * sx, axis=1, out=x[:, 1:])
    np.cumsum(cos * ty + sin * sy, axis=1, out=y[:, 1:])
    x[:, 1:] += x[:, :1]
    y[:, 1:] += y[:, :1]
    cx, cy = geom.center
    fx, fy = geom.fovea_center
    stop = (
        ((x - cx) ** 2 + (y - cy) ** 2 > (geom.radius + 2.0) ** 2)
        | (np.abs(y - cy) > geom.half_height + 2.0)
        | ((x - fx) ** 2 + (y - fy) ** 2 < (0.22 * geom.disc_diameter) ** 2)
        | (s > sprouts.length[:, None])
    )
    ends = np.where(stop.any(axis=1), stop.argmax(axis=1), n)
    points = np.stack([x, y], axis=-1)
    return [(points[k, :e], theta[k, :e]) for k, e in enumerate(ends.tolist())]


def _trunks(rng: np.random.Generator, geom: FundusGeometry) -> _Sprouts:
    """The vessels leaving the disc: per side (superior, inferior) and class (vein, artery) a
    temporal arcade and a nasal trunk, plus thin papillomacular vessels."""
    dd = geom.disc_diameter
    disc = np.asarray(geom.disc_center)
    rows = []
    for side in (1.0, -1.0):
        for vein in (True, False):
            width = dd * (0.072 if vein else 0.055) * rng.uniform(0.9, 1.1)
            start = disc + rng.normal(0.0, 0.08 * dd, size=2)
            arcade = (
                side * math.radians(rng.uniform(80, 100)),
                side * math.radians(rng.uniform(-10, 6)),
                dd * rng.uniform(1.5, 2.1),
                12 * dd,
                width,
            )
            nasal = (
                side * math.radians(rng.uniform(105, 140)),
                side * math.radians(rng.uniform(150, 185)),
                dd * rng.uniform(1.5, 3.0),
                8 * dd,
                width * rng.uniform(0.6, 0.8),
            )
            rows += [(*start, *arcade, vein), (*start, *nasal, vein)]
            if rng.random() < 0.7:
                angle = side * math.radians(rng.uniform(5, 35))
                rows.append((*disc, angle, angle, dd, 2.2 * dd, 0.028 * dd, vein))
    table = np.array(rows, dtype=np.float64)
    return _Sprouts(
        table[:, :2],
        table[:, 2],
        table[:, 3],
        table[:, 4],
        table[:, 5],
        table[:, 6],
        table[:, 7] > 0,
    )


def sample_vessel_tree(rng: np.random.Generator, geom: FundusGeometry) -> list[VesselBranch]:
    """Draw the vessel tree of one eye, one generation of branches at a time.

    Each branch forks every 0.6-1.4 disc diameters (DD); a child leaves at 25-60 degrees, is
    40-70 % as wide as its parent there (children under about half a pixel at 512 px are
    dropped) and bends back towards its parent's direction. Widths fall by 70 % along a branch
    and by 10 % after each fork.

    Args:
        rng (numpy.random.Generator): source of randomness.
        geom (FundusGeometry): the image geometry.

    Returns:
        list[VesselBranch]: trunks first, then each generation (at most 220 branches).
    """
    dd = geom.disc_diameter
    step = max(0.75, 2.5 * geom.scale)
    min_width = max(0.35, 0.55 * geom.scale)
    branches: list[VesselBranch] = []
    sprouts = _trunks(rng, geom)
    while len(sprouts.length) and len(branches) < _MAX_BRANCHES:
        paths = _walk(rng, geom, sprouts, step)
        m, most = len(paths), int(sprouts.length.max() / (0.6 * dd)) + 2
        spacing = dd * rng.uniform(0.6, 1.4, size=(m, most))
        forks = np.cumsum(spacing, axis=1) - spacing[:, :1] * rng.uniform(0.2, 0.9, size=(m, 1))
        arc = np.array([(len(p) - 1) * step for p, _ in paths])
        forks_ok = (forks > 0.3 * dd) & (forks < arc[:, None] - 0.3 * dd)
        at_points, at_theta, at_width = [], [], []
        at_vein: list[list[bool]] = []
        for k, (points, theta) in enumerate(paths):
            if len(points) < 2 or len(branches) >= _MAX_BRANCHES:
                continue
            here = forks[k][forks_ok[k]]
            s = np.arange(len(points)) * step
            widths = sprouts.width[k] * (1.0 - 0.7 * s / sprouts.length[k])
            widths *= 0.9 ** np.searchsorted(here, s)
            branches.append(VesselBranch(points, widths, bool(sprouts.vein[k])))
            idx = np.minimum((here / step).astype(np.int64), len(points) - 1)
            at_points.append(points[idx])
            at_theta.append(theta[idx])
            at_width.append(widths[idx])
            at_vein.append(len(idx) * [bool(sprouts.vein[k])])
        if not at_points:
            break
        width = np.concatenate(at_width) * rng.uniform(0.4, 0.7, size=sum(map(len, at_width)))
        u = rng.random((len(width), 5))
        side = np.where(u[:, 0] < 0.5, 1.0, -1.0)
        theta0 = np.concatenate(at_theta) + side * np.radians(25.0 + 35.0 * u[:, 1])
        keep = width >= min_width
        sprouts = _Sprouts(
            starts=np.concatenate(at_points)[keep],
            theta0=theta0[keep],
            theta_end=(theta0 - side * (0.2 + 0.5 * u[:, 2]))[keep],
            relax=dd * (0.7 + 1.3 * u[keep, 3]),
            length=dd * (1.4 + 2.0 * u[keep, 4]) * np.sqrt(width[keep] / (0.05 * dd)),
            width=width[keep],
            vein=np.fromiter(itertools.chain.from_iterable(at_vein), dtype=bool)[keep],
        )
    return branches


def _draw(canvas: np.ndarray, branches: list[VesselBranch], reflex: np.ndarray | None) -> None:
    """Draw branches on a ``uint8`` coverage canvas (and the arteries' reflex), in place.

    Widths are rounded to OpenCV's integer thicknesses; vessels thinner than a pixel are drawn
    one pixel thick with proportionally lower coverage.
    """
    if not branches:
        return
    points = np.concatenate([b.points for b in branches])
    widths = np.concatenate([b.widths for b in branches])
    starts = np.cumsum([0] + [len(b.points) for b in branches])
    thick = np.where(widths >= 1.5, np.rint(widths), 1).astype(np.int64)
    level = 2 * np.clip(np.rint(widths * 4), 1, 4).astype(np.int64)
    key = thick * 16 + level
    cuts = np.union1d(np.flatnonzero(np.diff(key)) + 1, starts)
    begins, stops = cuts[:-1], cuts[1:]
    stops = stops + ~np.isin(stops, starts)  # a run continuing the same branch joins the next
    pts = np.rint(points * (1 << _SHIFT)).astype(np.int32)
    runs: dict[int, list[np.ndarray]] = {}
    for a, b, k in zip(begins.tolist(), stops.tolist(), key[begins].tolist(), strict=True):
        if b - a >= 2:
            runs.setdefault(k, []).append(pts[a:b])
    for k, polys in runs.items():
        cv2.polylines(canvas, polys, False, 255 * (k % 16) // 8, k // 16, cv2.LINE_AA, _SHIFT)
    if reflex is not None:
        wide = [pts[a:b][widths[a:b] >= 3.0] for a, b in itertools.pairwise(starts)]
        wide = [w for w in wide if len(w) >= 2]
        if wide:
            cv2.polylines(reflex, wide, False, 255, 1, cv2.LINE_AA, _SHIFT)


def render_vessels(
    rng: np.random.Generator,
    geom: FundusGeometry,
    image: np.ndarray,
    background: np.ndarray,
    branches: list[VesselBranch],
) -> tuple[np.ndarray, np.ndarray]:
    """Paint the vessel tree over the image.

    Vessel colour is the local background (without the optic disc, so that vessels stay red on
    the pale disc) darkened per channel, veins more and bluer than arteries; it is blended in
    with the anti-aliased drawing as coverage, slightly blurred at 256 px and above. Arteries
    are drawn over veins where they cross.

    Args:
        rng (numpy.random.Generator): source of randomness.
        geom (FundusGeometry): the image geometry.
        image (numpy.ndarray): ``(3, size, size)`` ``float32`` planar RGB; not modified.
        background (numpy.ndarray): ``(3, size, size)`` ``float32`` retina without the disc.
        branches (list[VesselBranch]): the tree from :func:`sample_vessel_tree`.

    Returns:
        tuple[numpy.ndarray, numpy.ndarray]: the new ``(3, size, size)`` ``float32`` image and
        the ``(size, size)`` ``bool`` vessel mask (coverage > 0.5).
    """
    size = geom.size
    vein_keep = 1.0 - np.array([0.22, 0.58, 0.45]) * rng.uniform(0.85, 1.05)
    artery_keep = 1.0 - np.array([0.1, 0.38, 0.28]) * rng.uniform(0.85, 1.1)
    covers = []
    mask = np.zeros((size, size), dtype=bool)
    for is_vein in (True, False):
        drawing = np.zeros((size, size), dtype=np.uint8)
        reflex = None if is_vein or size < 384 else np.zeros((size, size), dtype=np.uint8)
        _draw(drawing, [b for b in branches if b.vein == is_vein], reflex)
        mask |= drawing > 127
        if size >= 256:
            drawing = np.asarray(cv2.GaussianBlur(drawing, (0, 0), 0.35 + 0.25 * geom.scale))
        cover = drawing.astype(np.float32)
        cover *= np.float32(1.0 / 255.0)
        if reflex is not None:
            cover *= 1.0 - np.float32(0.4 / 255.0) * reflex.astype(np.float32)
        covers.append(cover)
    vein, artery = covers
    vein *= 1.0 - artery
    clear = 1.0 - vein - artery
    out = np.empty_like(image)
    for c in range(3):
        tint = np.asarray(
            cv2.addWeighted(vein, float(vein_keep[c]), artery, float(artery_keep[c]), 0.0)
        )
        np.multiply(image[c], clear, out=out[c])
        out[c] += tint * background[c]
    return out, mask
