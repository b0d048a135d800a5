"""Procedural urban street-scene generator with exact Cityscapes ground truth.

World model: a straight street along +z (metres), ground plane y=0, x lateral
(right positive).  A pinhole camera at height h looks along +z.  Every surface
is drawn back-to-front (painter's algorithm) and the image, the trainId map and
the instanceId map are painted with the *same* masks, so labels are exact.
Blur, noise and lighting are applied to the image only.

Everything random comes from numpy.random.Generator(PCG64(seed)); the scene
layout is a function of the seed and world position, and a frame is the camera
at one time step, so clips are temporally consistent.
"""
import math

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

CLASS_NAMES = ("road", "sidewalk", "building", "wall", "fence", "pole",
               "traffic light", "traffic sign", "vegetation", "terrain", "sky",
               "person", "rider", "car", "truck", "bus", "train", "motorcycle",
               "bicycle")
LABEL_IDS = np.array([7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26,
                      27, 28, 31, 32, 33], np.int32)
(ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, TLIGHT, TSIGN, VEG, TERRAIN,
 SKY, PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTO, BIKE) = range(19)
THINGS = frozenset(range(11, 19))
IGNORE = 255
NEAR = 0.6  # near clipping distance (m)

_TRAIN_TO_LABEL = np.zeros(256, np.uint8)
_TRAIN_TO_LABEL[:19] = LABEL_IDS


def train_to_label_ids(t):
    """trainId map (uint8, 255 = ignore) -> Cityscapes labelId map (0 = ignore)."""
    return _TRAIN_TO_LABEL[t]


# ----------------------------------------------------------------------------
# noise
def _hash2(ix, iy, s):
    # uint32 arithmetic wraps modulo 2**32
    with np.errstate(over="ignore"):
        return _hash2_(ix, iy, s)


def _hash2_(ix, iy, s):
    h = ix * np.uint32(374761393) + iy * np.uint32(668265263) + np.uint32((s * 1442695041) & 0xFFFFFFFF)
    h = (h ^ (h >> np.uint32(13))) * np.uint32(1274126177)
    h = h ^ (h >> np.uint32(16))
    return (h & np.uint32(0xFFFFFF)).astype(np.float32) * np.float32(1.0 / 16777216.0)


def vnoise(x, y, s):
    """Smooth value noise in [0,1], deterministic in (x, y, s); x, y broadcastable."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    fx0 = np.floor(x)
    fy0 = np.floor(y)
    fx = (x - fx0).astype(np.float32)
    fy = (y - fy0).astype(np.float32)
    ix = fx0.astype(np.int64).astype(np.uint32)
    iy = fy0.astype(np.int64).astype(np.uint32)
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    one = np.uint32(1)
    a = _hash2(ix, iy, s)
    b = _hash2(ix + one, iy, s)
    c = _hash2(ix, iy + one, s)
    d = _hash2(ix + one, iy + one, s)
    return a + (b - a) * fx + (c - a) * fy + (a - b - c + d) * fx * fy


def cellrand(ix, iy, s):
    return _hash2(np.asarray(ix, np.int64).astype(np.uint32), np.asarray(iy, np.int64).astype(np.uint32), s)


# ----------------------------------------------------------------------------
# camera and canvas
class Cam:
    def __init__(self, H, W, f, cx, cy, h, x, z):
        self.H, self.W, self.f, self.cx, self.cy, self.h, self.x, self.z = H, W, f, cx, cy, h, x, z


def _span(a, b, n):
    lo, hi = (a, b) if a <= b else (b, a)
    lo = max(lo, -1e6)
    hi = min(hi, 1e6)
    return max(int(math.ceil(lo - 0.5)), 0), min(int(math.ceil(hi - 0.5)), n)


class Canvas:
    def __init__(self, cam, haze, fogd, shade):
        self.cam = cam
        H, W = cam.H, cam.W
        self.img = np.zeros((H, W, 3), np.float32)
        self.lab = np.full((H, W), IGNORE, np.uint8)
        self.inst = np.zeros((H, W), np.int32)
        self.cnt = [0] * 19
        self.stable = None  # render_clip: {(object, class): k} kept across frames
        self.obj = None  # the object being drawn (its identity while stable ids are on)
        self.haze = np.asarray(haze, np.float32)
        self.fogd = fogd
        self.shade = shade
        self.occ = np.zeros((H, W), bool)
        self.mark_occ = False
        self.restrict = False

    def paint_idx(self, rr, cc, cm, tid, inst=0, d=None, alpha=None, mul=False):
        """Paint pixels (rr, cc) with colours cm (N,3) (or factors when mul)."""
        if rr.size == 0:
            return
        img = self.img
        if mul:
            cm = np.asarray(cm, np.float32)
            img[rr, cc] = img[rr, cc] * (cm[:, None] if cm.ndim == 1 else cm)
            return
        if d is not None and self.fogd:
            fa = 1.0 - np.exp(-np.asarray(d, np.float32) / self.fogd)
            if np.ndim(fa):
                fa = fa[:, None]
            cm = cm + (self.haze - cm) * fa
        if alpha is None:
            img[rr, cc] = cm
        else:
            al = np.asarray(alpha, np.float32)
            if al.ndim:
                al = al[:, None]
            img[rr, cc] = img[rr, cc] * (1 - al) + cm * al
        if tid is not None:
            self.lab[rr, cc] = tid
            self.inst[rr, cc] = inst
            if self.mark_occ:
                self.occ[rr, cc] = True

    def new_inst(self, tid):
        if self.stable is not None and self.obj is not None:
            # Clips: one id per (object, class) for the whole clip, numbered per class in order of first
            # appearance, so an instance keeps its ground-truth id from frame to frame.
            key = (self.obj, tid)
            if key not in self.stable:
                self.stable[key] = self.stable.get(("next", tid), 0)
                self.stable[("next", tid)] = self.stable[key] + 1
            return int(LABEL_IDS[tid]) * 1000 + min(self.stable[key], 999)
        k = self.cnt[tid]
        self.cnt[tid] += 1
        return int(LABEL_IDS[tid]) * 1000 + min(k, 999)

    def paint(self, j0, i0, m, col, tid, inst=0, d=None, alpha=None, mul=False):
        if m is None:
            return
        h, w = m.shape
        sl = (slice(j0, j0 + h), slice(i0, i0 + w))
        idx = np.nonzero(m)
        if idx[0].size == 0:
            return
        img = self.img[sl]
        col = np.asarray(col, np.float32)
        if col.ndim >= 2:
            cm = np.broadcast_to(col, (h, w) + col.shape[2:])[idx]
        else:
            cm = col[None, :]
        if mul:
            if cm.ndim == 1:
                cm = cm[:, None]
            img[idx] = img[idx] * cm
            return
        if d is not None and self.fogd:
            dd = np.asarray(d, np.float32)
            if dd.ndim:
                dd = np.broadcast_to(dd, (h, w))[idx][:, None]
            fa = 1.0 - np.exp(-dd / self.fogd)
            cm = cm + (self.haze - cm) * fa
        if alpha is None:
            img[idx] = cm
        else:
            al = np.asarray(alpha, np.float32)
            if al.ndim:
                al = np.broadcast_to(al, (h, w))[idx][:, None]
            img[idx] = img[idx] * (1 - al) + cm * al
        if tid is not None:
            self.lab[sl][idx] = tid
            self.inst[sl][idx] = inst
            if self.mark_occ:
                self.occ[sl][idx] = True


def _face_paint(cv, j0, i0, m, A, B, D, tex, shade, tid, inst, mul):
    if cv.restrict:
        m = m & ~cv.occ[j0:j0 + m.shape[0], i0:i0 + m.shape[1]]
    rr, cc = np.nonzero(m)
    if rr.size == 0:
        return
    A = np.broadcast_to(A, m.shape)[rr, cc]
    B = np.broadcast_to(B, m.shape)[rr, cc]
    D = np.broadcast_to(np.asarray(D, np.float32), m.shape)[rr, cc]
    col, m2, al = _res(tex(A, B, D))
    col = np.asarray(col, np.float32)
    if col.ndim == 1 and not mul:
        col = np.broadcast_to(col, (rr.size, 3))
    elif col.shape[0] != rr.size:
        col = np.broadcast_to(col, (rr.size,) + col.shape[1:])
    if m2 is not None:
        rr, cc, col, D = rr[m2], cc[m2], col[m2], D[m2]
        if al is not None and np.ndim(al):
            al = al[m2]
    if not mul:
        col = col * shade
    cv.paint_idx(rr + j0, cc + i0, col, tid, inst, D, al, mul)


def _res(r):
    if isinstance(r, tuple):
        return r
    return r, None, None


def face_z(cv, X0, X1, Y0, Y1, Z, tex, tid, inst=0, shade=1.0, mul=False):
    """Rectangle in the plane z=Z facing the camera.  tex(A, B, d): A = x - X0, B = y."""
    c = cv.cam
    d = Z - c.z
    if d < NEAR:
        return
    s = c.f / d
    i0, i1 = _span(c.cx + (X0 - c.x) * s, c.cx + (X1 - c.x) * s, c.W)
    j0, j1 = _span(c.cy + (c.h - Y1) * s, c.cy + (c.h - Y0) * s, c.H)
    if i1 <= i0 or j1 <= j0:
        return
    u = np.arange(i0, i1, dtype=np.float32) + 0.5
    v = np.arange(j0, j1, dtype=np.float32) + 0.5
    A = (c.x + (u - c.cx) / s - X0)[None, :]
    B = (c.h - (v - c.cy) / s)[:, None]
    m = np.ones((j1 - j0, i1 - i0), bool)
    _face_paint(cv, j0, i0, m, A, B, d, tex, shade, tid, inst, mul)


def face_x(cv, X, Z0, Z1, Y0, Y1, tex, tid, inst=0, shade=1.0, zref=0.0, mul=False):
    """Rectangle in the plane x=X.  tex(A, B, d): A = z - zref, B = y."""
    c = cv.cam
    dx = X - c.x
    if abs(dx) < 1e-3:
        return
    Z0 = max(Z0, c.z + NEAR)
    if Z1 <= Z0:
        return
    d0, d1 = Z0 - c.z, Z1 - c.z
    i0, i1 = _span(c.cx + c.f * dx / d0, c.cx + c.f * dx / d1, c.W)
    if i1 <= i0:
        return
    u = np.arange(i0, i1, dtype=np.float32) + 0.5
    du = u - c.cx
    du[np.abs(du) < 1e-3] = 1e-3 * (1 if dx > 0 else -1)
    d = c.f * dx / du
    ok = (d >= d0 * 0.999) & (d <= d1 * 1.001)
    d = np.clip(d, d0, d1)
    vt = c.cy + c.f * (c.h - Y1) / d
    vb = c.cy + c.f * (c.h - Y0) / d
    j0, j1 = _span(float(vt.min()), float(vb.max()), c.H)
    if j1 <= j0:
        return
    v = np.arange(j0, j1, dtype=np.float32)[:, None] + 0.5
    m = (v >= vt[None, :]) & (v < vb[None, :]) & ok[None, :]
    B = c.h - (v - c.cy) * d[None, :] / c.f
    A = (c.z + d - zref)[None, :]
    _face_paint(cv, j0, i0, m, A, B, d[None, :], tex, shade, tid, inst, mul)


def face_y(cv, Y, X0, X1, Z0, Z1, tex, tid, inst=0, shade=1.0, zref=0.0, mul=False):
    """Rectangle in the plane y=Y.  tex(A, B, d): A = x - X0, B = z - zref."""
    c = cv.cam
    dy = c.h - Y
    if abs(dy) < 1e-3:
        return
    Z0 = max(Z0, c.z + NEAR)
    if Z1 <= Z0:
        return
    d0, d1 = Z0 - c.z, Z1 - c.z
    j0, j1 = _span(c.cy + c.f * dy / d0, c.cy + c.f * dy / d1, c.H)
    if j1 <= j0:
        return
    v = np.arange(j0, j1, dtype=np.float32) + 0.5
    dv = v - c.cy
    dv[np.abs(dv) < 1e-3] = 1e-3 * (1 if dy > 0 else -1)
    d = c.f * dy / dv
    ok = (d >= d0 * 0.999) & (d <= d1 * 1.001)
    d = np.clip(d, d0, d1)
    ul = c.cx + c.f * (X0 - c.x) / d
    ur = c.cx + c.f * (X1 - c.x) / d
    i0, i1 = _span(float(ul.min()), float(ur.max()), c.W)
    if i1 <= i0:
        return
    u = np.arange(i0, i1, dtype=np.float32)[None, :] + 0.5
    m = (u >= ul[:, None]) & (u < ur[:, None]) & ok[:, None]
    A = c.x + (u - c.cx) * d[:, None] / c.f - X0
    B = (c.z + d - zref)[:, None]
    _face_paint(cv, j0, i0, m, A, B, d[:, None], tex, shade, tid, inst, mul)


def box(cv, X0, X1, Y0, Y1, Z0, Z1, tn, ts, tt, tid, inst=0, zref=None):
    """Axis-aligned box; draws the visible faces (near, side facing camera, top/bottom)."""
    c = cv.cam
    zr = Z0 if zref is None else zref
    Z0c = max(Z0, c.z + NEAR)
    if Z1 <= Z0c:
        return
    sh = cv.shade
    if ts is not None:
        if X1 < c.x:
            face_x(cv, X1, Z0c, Z1, Y0, Y1, ts, tid, inst, sh["px"], zr)
        elif X0 > c.x:
            face_x(cv, X0, Z0c, Z1, Y0, Y1, ts, tid, inst, sh["nx"], zr)
    if tt is not None:
        if Y1 < c.h:
            face_y(cv, Y1, X0, X1, Z0c, Z1, tt, tid, inst, sh["top"], zr)
        elif Y0 > c.h:
            face_y(cv, Y0, X0, X1, Z0c, Z1, tt, tid, inst, sh["bot"], zr)
    face_z(cv, X0, X1, Y0, Y1, Z0c, tn, tid, inst, sh["z"])


# ----------------------------------------------------------------------------
# billboards (people, bikes, trees, signs): 2-D shapes at one depth
class BB:
    def __init__(self, cv, X, Y, Z):
        c = cv.cam
        self.cv = cv
        self.d = Z - c.z
        self.ok = self.d >= NEAR
        if self.ok:
            self.s = c.f / self.d
            self.u0 = c.cx + (X - c.x) * self.s
            self.v0 = c.cy + (c.h - Y) * self.s

    def _bbox(self, us, vs):
        c = self.cv.cam
        i0, i1 = _span(min(us) - 0.5, max(us) + 0.5, c.W)
        j0, j1 = _span(min(vs) - 0.5, max(vs) + 0.5, c.H)
        return i0, i1, j0, j1

    def local(self, i0, i1, j0, j1):
        a = (np.arange(i0, i1, dtype=np.float32) + 0.5 - self.u0) / self.s
        b = (self.v0 - np.arange(j0, j1, dtype=np.float32) - 0.5) / self.s
        return np.broadcast_arrays(a[None, :], b[:, None])

    def poly(self, pts, col, tid, inst=0, tex=None, alpha=None):
        if not self.ok:
            return
        us = [self.u0 + a * self.s for a, b in pts]
        vs = [self.v0 - b * self.s for a, b in pts]
        i0, i1, j0, j1 = self._bbox(us, vs)
        if i1 <= i0 or j1 <= j0:
            return
        im = Image.new("L", (i1 - i0, j1 - j0), 0)
        ImageDraw.Draw(im).polygon([(u - i0 - 0.5, v - j0 - 0.5) for u, v in zip(us, vs)], fill=1)
        m = np.asarray(im, bool)
        self._fill(j0, i0, j1, i1, m, col, tid, inst, tex, alpha)

    def ellipse(self, ca, cb, ra, rb, col, tid, inst=0, tex=None, alpha=None, inner=None):
        if not self.ok:
            return
        uc, vc = self.u0 + ca * self.s, self.v0 - cb * self.s
        ru, rv = max(ra * self.s, 0.5), max(rb * self.s, 0.5)
        i0, i1, j0, j1 = self._bbox([uc - ru, uc + ru], [vc - rv, vc + rv])
        if i1 <= i0 or j1 <= j0:
            return
        u = (np.arange(i0, i1, dtype=np.float32) + 0.5 - uc) / ru
        v = (np.arange(j0, j1, dtype=np.float32) + 0.5 - vc) / rv
        r2 = u[None, :] ** 2 + v[:, None] ** 2
        m = r2 <= 1.0
        if inner is not None:
            m &= r2 >= inner ** 2
        self._fill(j0, i0, j1, i1, m, col, tid, inst, tex, alpha)

    def seg(self, p, q, w, col, tid, inst=0):
        (a0, b0), (a1, b1) = p, q
        dx, dy = a1 - a0, b1 - b0
        n = math.hypot(dx, dy) or 1.0
        # keep at least ~1.2 px wide
        w = max(w, 1.2 / self.s) if self.ok else w
        nx, ny = -dy / n * w / 2, dx / n * w / 2
        self.poly([(a0 + nx, b0 + ny), (a1 + nx, b1 + ny), (a1 - nx, b1 - ny), (a0 - nx, b0 - ny)], col, tid, inst)

    def _fill(self, j0, i0, j1, i1, m, col, tid, inst, tex, alpha):
        if tex is not None:
            A, B = self.local(i0, i1, j0, j1)
            col = tex(A, B)
        else:
            col = np.asarray(col, np.float32)
            n = j1 - j0
            g = (1.08 - 0.18 * np.arange(n, dtype=np.float32) / max(n - 1, 1))[:, None, None]
            col = np.broadcast_to(col * g, (n, i1 - i0, 3))
        self.cv.paint(j0, i0, m, col, tid, inst, self.d, alpha)


# ----------------------------------------------------------------------------
# colours
def hsv(h, s, v):
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i], np.float32)


def rand_col(rng, smax=0.6, vmin=0.15, vmax=0.9):
    return hsv(rng.random(), rng.uniform(0, smax), rng.uniform(vmin, vmax))


CAR_PALETTE = [(0.85, 0.85, 0.85), (0.08, 0.08, 0.09), (0.45, 0.46, 0.48), (0.65, 0.66, 0.68),
               (0.55, 0.06, 0.06), (0.08, 0.16, 0.42), (0.15, 0.22, 0.16), (0.75, 0.7, 0.55),
               (0.3, 0.22, 0.16), (0.9, 0.8, 0.2), (0.2, 0.4, 0.6), (0.6, 0.25, 0.05)]


def car_col(rng):
    if rng.random() < 0.75:
        c = np.array(CAR_PALETTE[rng.integers(len(CAR_PALETTE))], np.float32)
        return np.clip(c * rng.uniform(0.8, 1.15), 0, 1)
    return rand_col(rng, 0.9, 0.1, 0.95)


# ----------------------------------------------------------------------------
# textures (closures of object parameters; coordinates are object-local metres)
def t_flat(col, var=0.08, ns=0, sc=2.0):
    col = np.asarray(col, np.float32)

    def t(A, B, d):
        n = vnoise(A * sc, B * sc, ns)
        return col * (1 + var * (2 * n - 1))[..., None]
    return t


def t_facade(rng, height, width):
    base = rand_col(rng, 0.45, 0.25, 0.85)
    brick = rng.random() < 0.25
    if brick:
        base = hsv(rng.uniform(0.0, 0.08), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.6))
    glass = hsv(rng.uniform(0.5, 0.7), rng.uniform(0.1, 0.4), rng.uniform(0.08, 0.35))
    frame = base * rng.uniform(0.6, 1.4) if rng.random() < 0.6 else np.array([0.85, 0.85, 0.82], np.float32)
    fh = rng.uniform(2.8, 3.8)
    ww = rng.uniform(0.7, 1.8)
    sp = ww + rng.uniform(0.5, 2.2)
    wy0 = rng.uniform(0.6, 1.0)
    wh = min(rng.uniform(1.0, 1.9), fh - wy0 - 0.3)
    off = rng.uniform(0, sp)
    g = rng.uniform(3.0, 4.5)
    shop = rng.random() < 0.55
    shop_w = rng.uniform(2.0, 5.0)
    shop_sp = shop_w + rng.uniform(0.6, 2.0)
    gcol = base * rng.uniform(0.5, 0.9) if rng.random() < 0.5 else rand_col(rng, 0.5, 0.2, 0.8)
    lit = rng.uniform(0, 0.25)
    ns = int(rng.integers(1 << 30))
    glass_only = rng.random() < 0.12  # curtain-wall office block
    top = height

    def t(A, B, d):
        n = vnoise(A * 0.3, B * 0.3, ns)
        sh = (0.82 + 0.3 * n)[..., None]
        col = base * sh
        if brick:
            row = np.floor(B / 0.075)
            mort = ((B % 0.075) < 0.013) | (((A + 0.12 * (row % 2)) % 0.24) < 0.015)
            mort &= d < 40
            col[mort] *= 0.75
        gf = B < g
        up = ~gf & (B < top - 1.0)
        rb = (B - g) % fh
        ra = (A - off) % sp
        if glass_only:
            win = up & ((ra % (sp / 2)) > 0.12) & (rb > 0.25)
        else:
            inrow = up & (rb > wy0 - 0.12) & (rb < wy0 + wh + 0.12)
            fr = inrow & ((ra < ww + 0.12) | (ra > sp - 0.12))
            col[fr] = frame
            win = inrow & (rb > wy0) & (rb < wy0 + wh) & (ra < ww)
        if win.any():
            Aw, Bw = A[win], B[win]
            rbw = rb[win]
            r = cellrand(np.floor((Aw - off) / sp), np.floor((Bw - g) / fh), ns)
            wc = glass * ((0.6 + 0.9 * r) * (0.8 + 0.4 * rbw / fh))[:, None]
            lm = r < lit
            wc[lm] = np.array([0.95, 0.8, 0.45], np.float32) * (0.6 + 0.4 * r[lm])[:, None]
            col[win] = wc
        col[gf] = gcol * sh[gf]
        if shop:
            asp = A % shop_sp
            sw = gf & (B > 0.35) & (B < g - 0.7) & (asp < shop_w)
            col[sw] = glass * 1.3 * (0.7 + 0.6 * (B[sw] / g))[:, None]
            aw = gf & (B > g - 0.7) & (B < g - 0.25) & (asp < shop_w + 0.3)
            col[aw] = frame * 0.8
        else:
            a9 = A % 9.0
            door = gf & (B < 2.3) & (a9 > 3.0) & (a9 < 4.3)
            col[door] = base * 0.35
        col[B > top - 0.5] *= 0.7
        return col
    return t


def t_wall(rng):
    kind = rng.integers(4)
    if kind == 0:
        base = hsv(rng.uniform(0.05, 0.15), rng.uniform(0.0, 0.15), rng.uniform(0.4, 0.75))  # concrete
    elif kind == 1:
        base = hsv(rng.uniform(0.0, 0.07), rng.uniform(0.4, 0.7), rng.uniform(0.3, 0.55))  # brick
    elif kind == 2:
        base = hsv(rng.uniform(0.06, 0.14), rng.uniform(0.1, 0.35), rng.uniform(0.35, 0.7))  # stone
    else:
        base = rand_col(rng, 0.5, 0.3, 0.9)  # painted
    ns = int(rng.integers(1 << 30))
    cap = rng.random() < 0.6
    graffiti = rng.random() < 0.3
    gcol = rand_col(rng, 1.0, 0.3, 1.0)

    def t(A, B, d):
        n = vnoise(A * 0.7, B * 0.7, ns)
        n2 = vnoise(A * 6, B * 6, ns + 1)
        col = base * (0.8 + 0.25 * n + 0.12 * n2)[..., None]
        if kind == 1:
            row = np.floor(B / 0.075)
            mort = ((B % 0.075) < 0.013) | (((A + 0.12 * (row % 2)) % 0.24) < 0.015)
            col = np.where((mort & (d < 40))[..., None], col * 0.7, col)
        elif kind == 2:
            row = np.floor(B / 0.35)
            j = ((B % 0.35) < 0.03) | (((A + 0.3 * (row % 3)) % 0.7) < 0.03)
            col = np.where(j[..., None], col * 0.65, col)
        elif kind == 0:
            col = np.where(((A % 2.5) < 0.03)[..., None], col * 0.75, col)
        if graffiti:
            gm = vnoise(A * 1.2, B * 1.5, ns + 2) > 0.72
            col = np.where((gm & (B < 1.8))[..., None], gcol, col)
        return col
    return t, cap, base


def t_fence(rng):
    kind = rng.integers(4)
    col = rand_col(rng, 0.5, 0.1, 0.7) if kind != 2 else hsv(rng.uniform(0.05, 0.1), 0.5, rng.uniform(0.3, 0.6))
    post = rng.uniform(1.8, 3.0)
    bar = rng.uniform(0.09, 0.18)

    def t(A, B, d):
        al = np.full(A.shape, 1.0, np.float32)
        if kind == 0:  # vertical bars
            solid = ((A % bar) < 0.035) | ((A % post) < 0.08) | (B < 0.12) | ((B % 1.0) > 0.94)
            al = np.where(solid, 1.0, 0.12)
        elif kind == 1:  # chain link mesh
            g = 0.06
            mesh = (((A + B) % g) < 0.012) | (((A - B) % g) < 0.012)
            solid = ((A % post) < 0.07) | (B < 0.05) | ((B % 2.0) > 1.95)
            al = np.where(solid, 1.0, np.where(mesh | (d > 12), 0.45, 0.15))
        elif kind == 2:  # wooden planks with gaps
            gap = (A % 0.15) < 0.02
            al = np.where(gap, 0.25, 1.0)
        else:  # construction panel / metal sheet
            al = np.where(((A % 3.5) < 0.06) | (B < 0.15) | (B % 1.0 < 0.05), 1.0, 0.95)
        c = col * (0.75 + 0.4 * (B / 2.5))[..., None]
        return c, None, al.astype(np.float32)
    return t


def t_veg(col, ns, top=None, rough=0.35):
    col = np.asarray(col, np.float32)

    def t(A, B, d):
        n1 = vnoise(A * 1.5, B * 1.5, ns)
        n2 = vnoise(A * 7, B * 7, ns + 3)
        c = col * (0.55 + 0.5 * n1 + 0.35 * n2)[..., None]
        if top is None:
            return c
        m = B < top - rough * vnoise(A * 2.5, 0.0, ns + 5)
        return c, m, None
    return t


# ----------------------------------------------------------------------------
# vehicles
def make_vehicle(rng, kind, front):
    """Parameters of a vehicle; front=True means we see its front (oncoming)."""
    p = dict(kind=kind, front=front, col=car_col(rng), glass=hsv(rng.uniform(0.5, 0.65), rng.uniform(0, 0.3), rng.uniform(0.05, 0.25)))
    if kind == CAR:
        sub = rng.random()
        if sub < 0.15:  # van
            p.update(L=rng.uniform(4.6, 5.6), w=rng.uniform(1.85, 2.05), hb=rng.uniform(1.0, 1.15), hc=rng.uniform(1.9, 2.3), ci0=0.1, ci1=rng.uniform(0.6, 1.0))
        elif sub < 0.4:  # SUV
            p.update(L=rng.uniform(4.3, 4.9), w=rng.uniform(1.8, 2.0), hb=rng.uniform(0.9, 1.05), hc=rng.uniform(1.6, 1.85), ci0=rng.uniform(0.3, 0.6), ci1=rng.uniform(1.0, 1.4))
        else:
            p.update(L=rng.uniform(3.6, 4.8), w=rng.uniform(1.65, 1.85), hb=rng.uniform(0.75, 0.9), hc=rng.uniform(1.35, 1.55), ci0=rng.uniform(0.5, 1.1), ci1=rng.uniform(1.1, 1.6))
        if front:
            p["ci0"], p["ci1"] = p["ci1"], p["ci0"]
    elif kind == TRUCK:
        p.update(L=rng.uniform(6.5, 11), w=rng.uniform(2.3, 2.55), hc=rng.uniform(2.6, 3.1), hcargo=rng.uniform(3.2, 4.0),
                 lcab=rng.uniform(1.9, 2.4), chassis=rng.uniform(0.8, 1.1), cargo=rand_col(rng, 0.6, 0.4, 0.95) if rng.random() < 0.6 else np.array([0.9, 0.9, 0.9], np.float32),
                 flat=rng.random() < 0.2)
    elif kind == BUS:
        dd = rng.random() < 0.12
        p.update(L=rng.uniform(10.5, 18), w=2.55, h=rng.uniform(4.1, 4.4) if dd else rng.uniform(3.0, 3.3), dd=dd,
                 stripe=rand_col(rng, 0.9, 0.3, 0.9))
        if rng.random() < 0.5:
            p["col"] = np.array([(0.9, 0.75, 0.1), (0.8, 0.1, 0.1), (0.9, 0.9, 0.9), (0.1, 0.35, 0.7), (0.1, 0.5, 0.2)][rng.integers(5)], np.float32)
    elif kind == TRAIN:
        p.update(L=rng.uniform(24, 36), w=rng.uniform(2.3, 2.65), h=rng.uniform(3.3, 3.6), stripe=rand_col(rng, 0.9, 0.2, 0.9))
        if rng.random() < 0.6:
            p["col"] = np.array([(0.92, 0.92, 0.9), (0.85, 0.1, 0.1), (0.95, 0.8, 0.1), (0.1, 0.5, 0.25), (0.2, 0.3, 0.6), (0.6, 0.6, 0.62)][rng.integers(6)], np.float32)
    p["ns"] = int(rng.integers(1 << 30))
    return p


def _glass(glass, A, B, b0, b1):
    t = np.clip((B - b0) / max(b1 - b0, 1e-3), 0, 1)
    return glass * (0.7 + 0.9 * t)[..., None] + 0.08 * vnoise(A * 3, B * 1.5, 7)[..., None]


def draw_vehicle(cv, p, x, z):
    kind = p["kind"]
    tid = kind
    inst = cv.new_inst(tid)
    col, glass = p["col"], p["glass"]
    w, L = p["w"], p["L"]
    X0, X1 = x - w / 2, x + w / 2
    front = p["front"]
    dark = np.array([0.04, 0.04, 0.045], np.float32)
    tyre = np.array([0.07, 0.07, 0.07], np.float32)
    rim = np.array([0.45, 0.45, 0.47], np.float32)
    light = np.array([0.95, 0.95, 0.85], np.float32) if front else np.array([0.8, 0.05, 0.05], np.float32)

    def side_wheels(col_side, A, B, axles, r):
        c = col_side
        for ax in axles:
            rr = (A - ax) ** 2 + (B - r) ** 2
            c = np.where((rr < (r + 0.08) ** 2)[..., None] & (B < r + 0.1)[..., None], dark, c)
            c = np.where((rr < r * r)[..., None], tyre, c)
            c = np.where((rr < (0.55 * r) ** 2)[..., None], rim, c)
        return c

    if kind == CAR:
        hb, hc = p["hb"], p["hc"]
        ci0, ci1 = p["ci0"], p["ci1"]
        r = 0.31

        def tn(A, B, d):
            c = np.broadcast_to(col * (0.85 + 0.2 * B / hb)[..., None], A.shape + (3,)).copy()
            c = np.where((B < 0.3)[..., None], dark, c)
            c = np.where(((B < 0.33) & ((A < 0.28) | (A > w - 0.28)))[..., None], tyre, c)
            c = np.where(((B > 0.3) & (B < 0.45))[..., None], c * 0.6, c)
            if front:
                c = np.where(((B > 0.42) & (B < 0.62) & (np.abs(A - w / 2) < w * 0.28))[..., None], dark * 2, c)
                c = np.where(((B > 0.6) & (B < 0.74) & ((A < 0.38) | (A > w - 0.38)))[..., None], light, c)
            else:
                c = np.where(((B > hb - 0.28) & (B < hb - 0.1) & ((A < 0.32) | (A > w - 0.32)))[..., None], light, c)
            c = np.where(((B > 0.45) & (B < 0.57) & (np.abs(A - w / 2) < 0.26))[..., None], np.array([0.9, 0.9, 0.85], np.float32), c)
            return c

        def ts(A, B, d):
            c = np.broadcast_to(col * (0.8 + 0.3 * B / hb)[..., None], A.shape + (3,)).copy()
            c = np.where((B < 0.28)[..., None], dark * 1.5, c)
            c = np.where(((np.abs(A - L * 0.48) < 0.012) | (np.abs(A - L * 0.72) < 0.012))[..., None] & (B > 0.3)[..., None], c * 0.5, c)
            c = np.where(((B > hb - 0.3) & (B < hb - 0.24) & (d < 25))[..., None], c * 1.2, c)
            return side_wheels(c, A, B, (0.75, L - 0.8), r)

        def tt(A, B, d):
            return np.broadcast_to(col * 1.08, A.shape + (3,))

        wc = w - 0.2

        def tcn(A, B, d):
            c = np.broadcast_to(col, A.shape + (3,)).copy()
            g = (A > 0.1) & (A < wc - 0.1) & (B > hb + 0.06) & (B < hc - 0.07)
            return np.where(g[..., None], _glass(glass, A, B, hb, hc), c)

        def tcs(A, B, d):
            c = np.broadcast_to(col, A.shape + (3,)).copy()
            cl = L - ci0 - ci1
            g = (A > 0.12) & (A < cl - 0.12) & (B > hb + 0.06) & (B < hc - 0.07) & (np.abs(A - cl * 0.5) > 0.06)
            return np.where(g[..., None], _glass(glass, A, B, hb, hc), c)
        box(cv, X0, X1, 0.0, hb, z, z + L, tn, ts, tt, tid, inst)
        box(cv, X0 + 0.1, X1 - 0.1, hb, hc, z + ci0, z + L - ci1, tcn, tcs, tt, tid, inst)
    elif kind == TRUCK:
        hc, hg, lc, ch = p["hc"], p["hcargo"], p["lcab"], p["chassis"]
        cargo = p["cargo"]
        lg = L - lc - 0.3
        r = 0.5
        flat = p["flat"]
        cab_z = z + lg + 0.3 if not front else z
        cargo_z = z if not front else z + lc + 0.3
        if flat:
            hg = ch + rng_h(p, 0.6, 1.6)

        def tcab_n(A, B, d):
            c = np.broadcast_to(col * (0.85 + 0.1 * B / hc)[..., None], A.shape + (3,)).copy()
            c = np.where((B < 0.55)[..., None], dark, c)
            c = np.where(((B < 0.6) & ((A < 0.35) | (A > w - 0.35)))[..., None], tyre, c)
            if front:
                c = np.where(((B > 1.55) & (B < hc - 0.25) & (A > 0.12) & (A < w - 0.12))[..., None], _glass(glass, A, B, 1.5, hc), c)
                c = np.where(((B > 0.65) & (B < 1.3) & (np.abs(A - w / 2) < w * 0.3))[..., None], dark * 3, c)
                c = np.where(((B > 0.65) & (B < 0.85) & ((A < 0.3) | (A > w - 0.3)))[..., None], light, c)
            return c

        def tcab_s(A, B, d):
            c = np.broadcast_to(col * (0.8 + 0.2 * B / hc)[..., None], A.shape + (3,)).copy()
            c = np.where((B < 0.55)[..., None], dark, c)
            wz = (A - (cab_z - z)) if False else A
            g = (B > 1.6) & (B < hc - 0.3) & (np.abs(wz - lc / 2) < lc * 0.3)
            c = np.where(g[..., None], _glass(glass, A, B, 1.6, hc), c)
            return side_wheels(c, A, B, (lc * 0.5,), r)

        def tg_n(A, B, d):
            c = np.broadcast_to(cargo * (0.85 + 0.15 * B / hg)[..., None], A.shape + (3,)).copy()
            c = np.where((np.abs(A - w / 2) < 0.02)[..., None] & (B > ch)[..., None], c * 0.5, c)
            c = np.where(((np.abs(A - w * 0.3) < 0.025) | (np.abs(A - w * 0.7) < 0.025))[..., None] & (B > ch + 0.2)[..., None], c * 0.6, c)
            u = B < ch
            c = np.where(u[..., None], dark, c)
            c = np.where((u & (B < 0.95) & ((A < 0.45) | (A > w - 0.45)))[..., None], tyre, c)
            c = np.where(((B > ch - 0.35) & (B < ch - 0.2))[..., None], np.array([0.35, 0.35, 0.35], np.float32), c)
            if not front:
                c = np.where(((B > ch - 0.2) & (B < ch) & ((A < 0.25) | (A > w - 0.25)))[..., None], light, c)
            return c

        def tg_s(A, B, d):
            c = np.broadcast_to(cargo * (0.8 + 0.2 * B / hg)[..., None], A.shape + (3,)).copy()
            c = np.where((B < ch)[..., None], dark, c)
            c = np.where(((B > ch + 0.4) & (B < hg - 0.5) & (np.abs(A - lg * 0.5) < lg * 0.25) & (cellrand(0, p["ns"] & 1023, 3) > 0.4))[..., None], p["col"] * 0.9, c)
            return side_wheels(c, A, B, (0.9, 2.2), r) if not front else side_wheels(c, A, B, (lg - 0.9, lg - 2.2), r)

        def tt(A, B, d):
            return np.broadcast_to(cargo * 1.05, A.shape + (3,))

        def tct(A, B, d):
            return np.broadcast_to(col * 1.05, A.shape + (3,))
        parts = [(cargo_z, lg, hg, tg_n, tg_s, tt), (cab_z, lc, hc, tcab_n, tcab_s, tct)]
        parts.sort(key=lambda q: -q[0])
        for zz, ll, hh, a, b, cc in parts:
            box(cv, X0, X1, 0.0, hh, zz, zz + ll, a, b, cc, tid, inst)
    elif kind in (BUS, TRAIN):
        h = p["h"]
        stripe = p["stripe"]
        y0 = 0.0 if kind == BUS else 0.15
        dd = p.get("dd", False)

        def tn(A, B, d):
            c = np.broadcast_to(col * (0.85 + 0.15 * B / h)[..., None], A.shape + (3,)).copy()
            c = np.where((B < 0.35)[..., None], dark, c)
            if kind == BUS and not front:
                c = np.where(((B > 0.35) & (B < 1.0) & (np.abs(A - w / 2) < w * 0.35))[..., None], dark * 3, c)
                c = np.where(((B > 1.8) & (B < 2.6) & (A > 0.15) & (A < w - 0.15))[..., None], _glass(glass, A, B, 1.8, 2.6), c)
                c = np.where(((B > 0.6) & (B < 1.1) & ((A < 0.22) | (A > w - 0.22)))[..., None], light, c)
            else:
                top = h - 0.55
                c = np.where(((B > 1.0) & (B < top) & (A > 0.12) & (A < w - 0.12))[..., None], _glass(glass, A, B, 1.0, top), c)
                c = np.where(((B > top + 0.08) & (B < h - 0.12) & (np.abs(A - w / 2) < w * 0.38))[..., None], dark * 2, c)
                txt = ((B > top + 0.15) & (B < h - 0.2) & (np.abs(A - w / 2) < w * 0.3) & (vnoise(A * 14, B * 4, 11) > 0.55))
                c = np.where(txt[..., None], np.array([1.0, 0.6, 0.1], np.float32), c)
                c = np.where(((B > 0.45) & (B < 0.7) & ((A < 0.3) | (A > w - 0.3)))[..., None], light, c)
                if dd:
                    c = np.where(((B > 2.6) & (B < 3.5) & (A > 0.12) & (A < w - 0.12))[..., None], _glass(glass, A, B, 2.6, 3.5), c)
            return c

        def ts(A, B, d):
            c = np.broadcast_to(col * (0.8 + 0.2 * B / h)[..., None], A.shape + (3,)).copy()
            c = np.where(((B > 0.75) & (B < 0.95))[..., None], stripe, c)
            c = np.where((B < 0.4)[..., None], dark, c)
            bands = [(1.1, 2.65)] if not dd else [(1.1, 2.2), (2.6, 3.8)]
            pil = 1.6 if kind == BUS else 1.9
            for b0, b1 in bands:
                g = (B > b0) & (B < b1) & ((A % pil) > 0.14) & (A > 0.4) & (A < L - 0.4)
                c = np.where(g[..., None], _glass(glass, A, B, b0, b1), c)
            if kind == TRAIN:
                dr = ((A % 7.0) > 3.0) & ((A % 7.0) < 4.3) & (B < 2.6) & (B > 0.3)
                c = np.where(dr[..., None], glass * 1.4, c)
                c = np.where(((A % 9.0) < 0.15)[..., None], dark * 3, c)
                return c
            return side_wheels(c, A, B, (2.5, L - 3.0) if not front else (3.0, L - 2.5), 0.5)

        def tt(A, B, d):
            return np.broadcast_to(col * 0.95, A.shape + (3,))
        box(cv, X0, X1, y0, h, z, z + L, tn, ts, tt, tid, inst)
        if kind == TRAIN:
            bb = BB(cv, x, h, z + L * 0.4)
            if bb.ok:
                pc = (0.2, 0.2, 0.22)
                bb.seg((-0.6, 0.05), (0.0, 1.4), 0.07, pc, tid, inst)
                bb.seg((0.0, 1.4), (0.6, 0.05), 0.07, pc, tid, inst)
                bb.seg((-0.8, 1.4), (0.8, 1.4), 0.06, pc, tid, inst)
                bb.poly([(-0.7, 0.0), (0.7, 0.0), (0.7, 0.2), (-0.7, 0.2)], pc, tid, inst)
    return inst


def rng_h(p, lo, hi):
    return lo + (hi - lo) * float(cellrand(p["ns"] & 1023, 5, 9))


# ----------------------------------------------------------------------------
# people and two-wheelers (billboards)
def make_person(rng):
    skin = hsv(rng.uniform(0.03, 0.1), rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.95))
    return dict(hgt=rng.uniform(1.5, 1.95), skin=skin, hair=hsv(rng.uniform(0, 0.12), rng.uniform(0, 0.6), rng.uniform(0.05, 0.6)),
                top=rand_col(rng, 0.8, 0.08, 0.95), bottom=rand_col(rng, 0.6, 0.05, 0.7), shoes=rand_col(rng, 0.3, 0.03, 0.5),
                k=rng.uniform(0.0, 1.0), dirn=1 if rng.random() < 0.5 else -1, coat=rng.random() < 0.3, bag=rng.random() < 0.3,
                bagc=rand_col(rng, 0.6, 0.05, 0.6), helmet=rand_col(rng, 0.9, 0.1, 0.95), skirt=rng.random() < 0.15,
                wid=rng.uniform(0.9, 1.2))


def draw_person(cv, x, z, p, phase, tid=PERSON, inst=None, seat=None):
    """Standing/walking person, or seated rider when seat=(hip_a, hip_b, hand_a, hand_b, foot_a, foot_b)."""
    bb = BB(cv, x, 0.0, z)
    if not bb.ok or bb.s * p["hgt"] < 2:
        return
    if inst is None:
        inst = cv.new_inst(tid)
    H = p["hgt"]
    if seat is None and bb.s * H < 28:  # low detail for distant people
        hw = 0.2 * H / 1.75 * p["wid"]
        sw = 0.12 * math.sin(phase) * p["k"] * H
        bb.poly([(-hw * 0.8 - sw, 0), (hw * 0.8 + sw, 0), (hw * 0.7, 0.5 * H), (-hw * 0.7, 0.5 * H)], p["bottom"], tid, inst)
        bb.poly([(-hw, 0.48 * H), (hw, 0.48 * H), (hw, 0.83 * H), (-hw, 0.83 * H)], p["top"], tid, inst)
        bb.ellipse(0, 0.9 * H, 0.09 * H / 1.75, 0.12 * H / 1.75, p["skin"], tid, inst)
        return inst
    k, dn, wd = p["k"], p["dirn"], p["wid"]
    sc = H / 1.75
    hw = (0.1 + 0.08 * (1 - k)) * sc * wd  # half torso width
    if seat is None:
        hip = 0.52 * H
        sh = 0.82 * H
        sw = 0.45 * math.sin(phase)
        legs = []
        for sgn in (1, -1):
            off = (1 - k) * 0.085 * sc * sgn
            fa = off + k * dn * sgn * sw * 0.5 * H * 0.55
            legs.append(((off, hip), (fa, 0.04)))
        hx = 0.0
    else:
        ha, hb_, hda, hdb, fa_, fb_ = seat
        hip = hb_
        sh = hb_ + 0.32 * H
        hx = 0.0
        legs = [((0.0, hip), (fa_ * k * dn, fb_ + 0.1)), ((0.0, hip), (-fa_ * 0.2 * k * dn, fb_ + 0.05))]
    lean = 0.0 if seat is None else 0.18 * H * k * dn
    # legs
    lw = 0.075 * sc * wd
    for (p0, p1) in legs:
        bb.seg(p0, p1, 2 * lw, p["bottom"], tid, inst)
        bb.ellipse(p1[0] + 0.05 * k * dn, p1[1] - 0.02, 0.06 + 0.05 * k, 0.045, p["shoes"], tid, inst)
    # torso
    top_c = p["top"]
    tb = hip - (0.18 * H if p["coat"] and seat is None else 0.03)
    pts = [(-hw * 0.9, tb), (hw * 0.9, tb), (hw + lean, sh), (-hw + lean, sh)]
    bb.poly(pts, top_c, tid, inst)
    if p["skirt"] and seat is None:
        bb.poly([(-hw * 1.1, hip - 0.2 * H), (hw * 1.1, hip - 0.2 * H), (hw * 0.9, hip + 0.02), (-hw * 0.9, hip + 0.02)], p["bottom"], tid, inst)
    # arms
    aw = 0.055 * sc * wd
    for sgn in (1, -1):
        s0 = (lean + sgn * (hw * (1 - k * 0.7)), sh - 0.03)
        if seat is None:
            sw = -0.35 * math.sin(phase) * sgn
            e = (s0[0] + k * dn * sw * 0.3 * H + (1 - k) * sgn * 0.03, 0.47 * H)
        else:
            e = (hda * k * dn + sgn * (1 - k) * 0.25, hdb)
        bb.seg(s0, e, 2 * aw, top_c * 0.9, tid, inst)
        bb.ellipse(e[0], e[1], 0.045, 0.05, p["skin"], tid, inst)
    if p["bag"] and seat is None:
        bb.poly([(-hw - 0.08, hip - 0.05), (-hw + 0.1, hip - 0.05), (-hw + 0.1, hip + 0.25), (-hw - 0.08, hip + 0.25)], p["bagc"], tid, inst)
    # neck + head
    hr = 0.115 * sc
    hcx, hcy = lean * 1.1 + 0.02 * k * dn, sh + 0.05 + hr
    bb.poly([(hcx - 0.04, sh - 0.02), (hcx + 0.04, sh - 0.02), (hcx + 0.04, hcy), (hcx - 0.04, hcy)], p["skin"], tid, inst)
    bb.ellipse(hcx, hcy, hr * 0.8, hr, p["skin"], tid, inst)
    if seat is not None and p.get("helm"):
        bb.ellipse(hcx, hcy + 0.03, hr * 0.95, hr * 1.05, p["helmet"], tid, inst)
    else:
        bb.ellipse(hcx - 0.02 * k * dn, hcy + 0.04, hr * 0.82, hr * 0.72, p["hair"], tid, inst)
    return inst


def make_twowheeler(rng, kind):
    if kind == BIKE:
        return dict(kind=kind, r=rng.uniform(0.3, 0.36), wb=rng.uniform(0.95, 1.1), col=rand_col(rng, 0.9, 0.1, 0.9),
                    k=rng.uniform(0.25, 1.0), dirn=1 if rng.random() < 0.5 else -1, basket=rng.random() < 0.2)
    return dict(kind=kind, r=rng.uniform(0.26, 0.33), wb=rng.uniform(1.25, 1.5), col=car_col(rng),
                k=rng.uniform(0.3, 1.0), dirn=1 if rng.random() < 0.5 else -1, scooter=rng.random() < 0.35)


def draw_twowheeler(cv, x, z, p, rider=None, phase=0.0):
    bb = BB(cv, x, 0.0, z)
    if not bb.ok or bb.s * 0.7 < 1.5:
        return
    kind = p["kind"]
    inst = cv.new_inst(kind)
    k, dn, r, wb = p["k"], p["dirn"], p["r"], p["wb"]
    col = p["col"]
    fx = lambda a: a * k * dn  # noqa: E731
    tyre = np.array([0.05, 0.05, 0.05], np.float32)
    rearx, frontx = fx(-wb / 2), fx(wb / 2)
    tw = 0.05 if kind == BIKE else 0.1
    # the near-to-camera order doesn't matter much at this scale
    for cx_ in (rearx, frontx):
        bb.ellipse(cx_, r, max(r * k, 0.06), r, tyre, kind, inst)
        ir = 1 - tw / r
        bb.ellipse(cx_, r, max(r * k, 0.06) * ir, r * ir, (0.5, 0.5, 0.5) if kind == BIKE else (0.3, 0.3, 0.32), kind, inst,
                   alpha=0.3 if kind == BIKE else 0.85)
    fw = 0.045 if kind == BIKE else 0.07
    if kind == BIKE:
        bbk = (fx(-0.05), r)
        seat = (fx(-wb * 0.22), r + 0.55)
        head = (fx(wb * 0.38), r + 0.52)
        bb.seg((rearx, r), bbk, fw, col, kind, inst)
        bb.seg((rearx, r), seat, fw, col, kind, inst)
        bb.seg(bbk, seat, fw, col, kind, inst)
        bb.seg(bbk, head, fw, col, kind, inst)
        bb.seg(seat, head, fw, col, kind, inst)
        bb.seg(head, (frontx, r), fw, col, kind, inst)
        bb.seg(head, (head[0] - fx(0.06), head[1] + 0.15), fw, col, kind, inst)
        hb = (head[0] - fx(0.06), head[1] + 0.15)
        bb.seg((hb[0] - 0.25 * (1 - k), hb[1]), (hb[0] + 0.25 * (1 - k) + fx(0.05), hb[1]), 0.04, (0.1, 0.1, 0.1), kind, inst)
        bb.poly([(seat[0] - fx(0.12) - 0.06 * (1 - k), seat[1]), (seat[0] + fx(0.1) + 0.06 * (1 - k), seat[1]),
                 (seat[0] + fx(0.1) + 0.06 * (1 - k), seat[1] + 0.06), (seat[0] - fx(0.12) - 0.06 * (1 - k), seat[1] + 0.06)],
                (0.08, 0.08, 0.08), kind, inst)
        if p["basket"]:
            bb.poly([(frontx - 0.15, r + 0.6), (frontx + 0.15, r + 0.6), (frontx + 0.15, r + 0.85), (frontx - 0.15, r + 0.85)], (0.5, 0.35, 0.2), kind, inst)
        seatpos = (seat[0], seat[1] + 0.05, hb[0], hb[1], bbk[0] + fx(0.15) * math.sin(phase), r * 0.5)
    else:
        sw = 0.25 * (1 - k) + 0.12
        if p["scooter"]:
            body = [(rearx - fx(0.1), r + 0.1), (fx(0.25), r - 0.1), (fx(0.3), r + 0.2), (frontx - fx(0.05), r + 0.9),
                    (frontx - fx(0.2), r + 0.95), (fx(0.1), r + 0.35), (rearx + fx(0.1), r + 0.55), (rearx - fx(0.15), r + 0.5)]
            body = [(a, b) for a, b in body]
        else:
            body = [(rearx + fx(0.15), r + 0.15), (fx(0.35), r - 0.05), (fx(0.55), r + 0.45), (frontx - fx(0.15), r + 0.55),
                    (fx(0.3), r + 0.75), (fx(-0.3), r + 0.62), (rearx - fx(0.05), r + 0.6), (rearx - fx(0.1), r + 0.4)]
        # widen when seen from behind
        cxm = sum(a for a, b in body) / len(body)
        body = [(cxm + (a - cxm) + (sw if a >= cxm else -sw) * (1 - k), b) for a, b in body]
        bb.poly(body, col, kind, inst)
        bb.seg((rearx, r), (fx(0.1), r + 0.2), 0.1, (0.15, 0.15, 0.15), kind, inst)
        bb.seg((frontx, r), (frontx - fx(0.2), r + 0.85), fw, (0.6, 0.6, 0.62), kind, inst)
        hb = (frontx - fx(0.25), r + 0.95)
        bb.seg((hb[0] - 0.3 * (1 - k) - 0.05, hb[1]), (hb[0] + 0.3 * (1 - k) + 0.05, hb[1]), 0.05, (0.1, 0.1, 0.1), kind, inst)
        bb.poly([(fx(-0.45) - sw * (1 - k), r + 0.6), (fx(0.1) + sw * (1 - k), r + 0.6), (fx(0.1) + sw * (1 - k), r + 0.7),
                 (fx(-0.45) - sw * (1 - k), r + 0.7)], (0.06, 0.06, 0.06), kind, inst)
        bb.ellipse(frontx - fx(0.2), r + 0.75, 0.08, 0.08, (0.95, 0.95, 0.85) if dn * 0 == 0 else (0.8, 0.1, 0.1), kind, inst)
        seatpos = (fx(-0.2), r + 0.7, hb[0], hb[1], fx(0.1), r + 0.2)
    if rider is not None:
        rider = dict(rider)
        rider["k"], rider["dirn"] = k, dn
        sa = seatpos[0]
        seatpos = (0.0, seatpos[1], seatpos[2] - sa, seatpos[3], seatpos[4] - sa, seatpos[5])
        draw_person(cv, x + sa, z, rider, phase, RIDER, seat=seatpos)
    return inst


# ----------------------------------------------------------------------------
# street furniture and vegetation
def draw_tree(cv, x, z, p):
    bb = BB(cv, x, 0.0, z)
    if not bb.ok:
        return
    th, tw, cr, ch = p["th"], p["tw"], p["cr"], p["ch"]
    bb.poly([(-tw / 2, 0), (tw / 2, 0), (tw * 0.35, th + ch * 0.4), (-tw * 0.35, th + ch * 0.4)], p["bark"], VEG)
    # crown: union of ellipses with a noisy boundary
    c = cv.cam
    a0, a1, b0, b1 = -cr * 1.3, cr * 1.3, th - 0.2, th + ch + 0.3
    i0, i1, j0, j1 = bb._bbox([bb.u0 + a0 * bb.s, bb.u0 + a1 * bb.s], [bb.v0 - b1 * bb.s, bb.v0 - b0 * bb.s])
    if i1 <= i0 or j1 <= j0:
        return
    A, B = bb.local(i0, i1, j0, j1)
    fld = np.full(A.shape, -9.0, np.float32)
    for (ea, eb, ra, rb) in p["blobs"]:
        fld = np.maximum(fld, 1 - ((A - ea) / ra) ** 2 - ((B - eb) / rb) ** 2)
    ns = p["ns"]
    n = vnoise(A * 2.2, B * 2.2, ns)
    m = fld + 0.6 * (n - 0.5) > 0
    rr, cc = np.nonzero(m)
    Am, Bm = A[rr, cc], B[rr, cc]
    col = t_veg(p["col"], ns)(Am, Bm, None)
    col = col * (0.75 + 0.35 * np.clip((Bm - th) / ch, 0, 1))[:, None]
    cv.paint_idx(rr + j0, cc + i0, col, VEG, 0, bb.d)


def make_tree(rng, cr=None):
    th = rng.uniform(1.8, 4.0)
    cr = cr if cr is not None else rng.uniform(1.3, 3.5)
    ch = cr * rng.uniform(1.4, 2.4)
    blobs = [(0.0, th + ch / 2, cr, ch / 2)]
    for _ in range(rng.integers(3, 7)):
        blobs.append((rng.uniform(-0.7, 0.7) * cr, th + rng.uniform(0.25, 0.8) * ch, cr * rng.uniform(0.35, 0.7), ch * rng.uniform(0.2, 0.4)))
    autumn = rng.random() < 0.12
    col = hsv(rng.uniform(0.05, 0.12), 0.7, rng.uniform(0.35, 0.6)) if autumn else hsv(rng.uniform(0.18, 0.36), rng.uniform(0.35, 0.8), rng.uniform(0.15, 0.5))
    return dict(th=th, tw=rng.uniform(0.18, 0.45), cr=cr, ch=ch, blobs=blobs, col=col, ns=int(rng.integers(1 << 30)),
                bark=hsv(rng.uniform(0.05, 0.12), rng.uniform(0.2, 0.5), rng.uniform(0.12, 0.4)))


def draw_pole(cv, x, z, w, h, col, y0=0.0):
    t = t_flat(col, 0.05)
    box(cv, x - w / 2, x + w / 2, y0, h, z - w / 2, z + w / 2, t, t, None, POLE)


def draw_streetlight(cv, x, z, p, side):
    w, h = p["w"], p["h"]
    draw_pole(cv, x, z, w, h, p["col"])
    arm = p["arm"]
    xa = x - side * arm
    t = t_flat(p["col"], 0.05)
    box(cv, min(x, xa), max(x, xa), h - 0.12, h, z - 0.05, z + 0.05, t, t, t, POLE)
    box(cv, xa - 0.3, xa + 0.3, h - 0.3, h - 0.05, z - 0.15, z + 0.15, t_flat(p["col"] * 0.7, 0.05), t, t, POLE)


def _sign_shapes(bb, p, yc, inst):
    kind, s = p["shape"], p["size"]
    back = p["back"]
    grey = (0.55, 0.56, 0.58)
    r = s / 2
    k = p["k"]
    if kind == 0:  # round: red ring / blue disc
        bb.ellipse(0, yc, r * k, r, grey if back else p["c1"], TSIGN, inst)
        if not back:
            bb.ellipse(0, yc, r * k * 0.75, r * 0.75, p["c2"], TSIGN, inst)
            if p["c1"][2] > 0.5:  # blue disc with white arrow
                bb.poly([(-0.05 * k, yc - r * 0.5), (0.05 * k, yc - r * 0.5), (0.05 * k, yc + 0.1), (0.2 * k, yc + 0.1), (0, yc + r * 0.55), (-0.2 * k, yc + 0.1), (-0.05 * k, yc + 0.1)], (0.95, 0.95, 0.95), TSIGN, inst)
            else:
                bb.poly([(-r * 0.45 * k, yc - 0.06), (r * 0.45 * k, yc - 0.06), (r * 0.45 * k, yc + 0.06), (-r * 0.45 * k, yc + 0.06)], p["c3"], TSIGN, inst)
    elif kind == 1:  # triangle
        pts = [(-r * k, yc - r * 0.85), (r * k, yc - r * 0.85), (0, yc + r * 0.9)]
        if p["inv"]:
            pts = [(a, 2 * yc - b) for a, b in pts]
        bb.poly(pts, grey if back else (0.8, 0.08, 0.08), TSIGN, inst)
        if not back:
            bb.poly([(a * 0.62, yc + (b - yc) * 0.62 - (0.03 if not p["inv"] else -0.03)) for a, b in pts], (0.95, 0.95, 0.92), TSIGN, inst)
    elif kind == 2:  # rectangle (info/direction)
        hw, hh = r * k * p["ar"], r
        bb.poly([(-hw, yc - hh), (hw, yc - hh), (hw, yc + hh), (-hw, yc + hh)], grey if back else p["c2"], TSIGN, inst)
        if not back:
            bb.poly([(-hw * 0.8, yc - hh * 0.8), (hw * 0.8, yc - hh * 0.8), (hw * 0.8, yc + hh * 0.8), (-hw * 0.8, yc + hh * 0.8)], p["c1"], TSIGN, inst)
            bb.poly([(-hw * 0.5, yc - 0.05), (hw * 0.5, yc - 0.05), (hw * 0.5, yc + 0.12), (-hw * 0.5, yc + 0.12)], p["c2"], TSIGN, inst)
    elif kind == 3:  # octagon stop
        pts = [(r * k * math.cos(math.pi / 8 + i * math.pi / 4), yc + r * math.sin(math.pi / 8 + i * math.pi / 4)) for i in range(8)]
        bb.poly(pts, grey if back else (0.75, 0.05, 0.05), TSIGN, inst)
        if not back:
            bb.poly([(-r * 0.6 * k, yc - 0.06), (r * 0.6 * k, yc - 0.06), (r * 0.6 * k, yc + 0.06), (-r * 0.6 * k, yc + 0.06)], (0.95, 0.95, 0.95), TSIGN, inst)
    else:  # diamond priority
        pts = [(-r * k, yc), (0, yc - r), (r * k, yc), (0, yc + r)]
        bb.poly(pts, grey if back else (0.95, 0.95, 0.95), TSIGN, inst)
        if not back:
            bb.poly([(a * 0.7, yc + (b - yc) * 0.7) for a, b in pts], (0.95, 0.8, 0.1), TSIGN, inst)


def make_sign(rng, back):
    shape = rng.choice(5, p=[0.35, 0.2, 0.3, 0.05, 0.1])
    c1 = [(0.8, 0.08, 0.08), (0.1, 0.25, 0.7)][rng.integers(2)] if shape == 0 else \
        [(0.1, 0.25, 0.7), (0.1, 0.45, 0.2), (0.95, 0.95, 0.95), (0.95, 0.8, 0.1)][rng.integers(4)]
    c2 = (0.95, 0.95, 0.95) if shape == 0 and c1[0] > 0.5 else ((0.1, 0.25, 0.7) if shape == 0 else (0.95, 0.95, 0.95) if c1[0] < 0.9 else (0.1, 0.1, 0.1))
    return dict(shape=int(shape), size=rng.uniform(0.6, 0.95), back=back, c1=np.array(c1, np.float32), c2=np.array(c2, np.float32),
                c3=rand_col(rng, 1, 0.05, 0.6), k=rng.uniform(0.6, 1.0), inv=rng.random() < 0.3, ar=rng.uniform(0.7, 1.6))


def draw_signpole(cv, x, z, p):
    draw_pole(cv, x, z, p["w"], p["h"], p["col"])
    yc = p["h"] - p["signs"][0]["size"] / 2
    for sp in p["signs"]:
        bb = BB(cv, x, 0.0, z - 0.06)
        if not bb.ok:
            return
        inst = 0
        _sign_shapes(bb, sp, yc, inst)
        yc -= sp["size"] * 1.1


def tl_tex(p):
    hw, hh, back = p["bw"], p["bh"], p["back"]
    housing = p["hcol"]
    state = p["state"]
    lamps = [np.array(c, np.float32) for c in ((1.0, 0.1, 0.05), (1.0, 0.7, 0.05), (0.1, 1.0, 0.5))]
    n = p["n"]

    def t(A, B, d):
        c = np.broadcast_to(housing * (0.9 + 0.2 * vnoise(A * 9, B * 9, 3))[..., None], A.shape + (3,)).copy()
        if back:
            return c
        r = min(hw, hh / n) * 0.33
        for i in range(n):
            bc = B - p["y0"] - hh * (n - i - 0.5) / n
            m = (A - hw / 2) ** 2 + bc ** 2 < r * r
            on = (i == state)
            col = lamps[i] if on else lamps[i] * 0.15 + 0.03
            c = np.where(m[..., None], col, c)
            vis = (bc > r * 0.9) & (bc < r * 1.3) & (np.abs(A - hw / 2) < r * 1.25)
            c = np.where(vis[..., None], housing * 0.5, c)
        return c
    return t


def make_tl(rng, back):
    n = 3 if rng.random() < 0.85 else 2
    bw = rng.uniform(0.3, 0.42)
    bh = bw * n * rng.uniform(0.85, 1.05)
    hc = [(0.08, 0.08, 0.08), (0.15, 0.15, 0.15), (0.85, 0.7, 0.1), (0.1, 0.25, 0.15), (0.5, 0.5, 0.5)][rng.integers(5)]
    return dict(n=n, bw=bw, bh=bh, back=back, hcol=np.array(hc, np.float32), state=int(rng.integers(n)), plate=rng.random() < 0.4)


def draw_tlight(cv, x, y0, z, p):
    bw, bh = p["bw"], p["bh"]
    p = dict(p, y0=y0)
    t = tl_tex(p)
    ts = t_flat(p["hcol"], 0.1)
    if p["plate"]:
        pc = t_flat(p["hcol"] * 0.8 + 0.05, 0.05)
        box(cv, x - bw * 0.8, x + bw * 0.8, y0 - 0.08, y0 + bh + 0.08, z + 0.12, z + 0.15, pc, pc, None, TLIGHT)
    box(cv, x - bw / 2, x + bw / 2, y0, y0 + bh, z - 0.12, z + 0.12, t, ts, ts, TLIGHT)


def draw_tlpole(cv, x, z, p, side):
    draw_pole(cv, x, z, p["w"], p["h"], p["col"])
    tl = p["tl"]
    draw_tlight(cv, x, p["h"] - tl["bh"] - 0.05, z - p["w"] / 2 - 0.13, tl)
    if p.get("tl2"):
        draw_tlight(cv, x - side * (p["w"] / 2 + p["tl2"]["bw"] / 2 + 0.02), 2.2, z - 0.2, p["tl2"])
    if p.get("mast"):
        ma = p["mast"]
        xa = x - side * ma["len"]
        t = t_flat(p["col"], 0.05)
        hy = ma["y"]
        draw_pole(cv, x, z, p["w"] * 1.3, hy + 0.3, p["col"])
        box(cv, min(x, xa), max(x, xa), hy, hy + 0.2, z - 0.1, z + 0.1, t, t, t, POLE)
        for off, tlp in ma["lights"]:
            xx = x - side * off
            draw_tlight(cv, xx, hy - tlp["bh"] - 0.1, z - 0.25, tlp)
            box(cv, xx - 0.03, xx + 0.03, hy - 0.1, hy, z - 0.03, z + 0.03, t, t, None, POLE)
        if ma.get("sign"):
            bb = BB(cv, x - side * ma["signoff"], 0.0, z - 0.15)
            if bb.ok:
                _sign_shapes(bb, ma["sign"], hy - 0.6, 0)


# ----------------------------------------------------------------------------
# world layout: a function of the seed only
def _gen(seed):
    return np.random.Generator(np.random.PCG64(seed))


def build_world(seed, zlo, zhi, speed=0.0, T=0.0):
    """Street layout for world positions [zlo, zhi]; moving objects are placed
    so that the window stays populated for times 0..T with camera speed `speed`."""
    rng = _gen(seed)
    U = rng.uniform
    w = {}
    lw = U(3.0, 3.7)
    n_r = int(rng.choice([1, 2, 2, 3]))
    n_l = int(rng.choice([0, 1, 1, 2, 2]))
    park_r = U(2.0, 2.5) if rng.random() < 0.45 else 0.0
    park_l = U(2.0, 2.5) if rng.random() < (0.4 if n_l else 0.25) else 0.0
    xr = n_r * lw + park_r
    xl = -(n_l * lw + park_l)
    tram = rng.random() < 0.45
    w.update(lw=lw, n_r=n_r, n_l=n_l, park_r=park_r, park_l=park_l, xr=xr, xl=xl, tram=tram)
    side = {}
    for s, edge in ((1, xr), (-1, xl)):
        verge = U(0.8, 3.0) if rng.random() < 0.45 else 0.0
        sw = U(2.2, 6.0)
        side[s] = dict(edge=edge, verge=verge, sw=sw, prop=edge + s * (0.25 + verge + sw))
    w["side"] = side
    w["cam_lane"] = int(rng.integers(n_r))
    w["cam_x"] = (w["cam_lane"] + 0.5) * lw
    # road appearance
    w["asphalt"] = hsv(U(0.0, 0.7), U(0.0, 0.12), U(0.18, 0.45))
    w["mark"] = np.array([0.85, 0.85, 0.82], np.float32) * U(0.75, 1.05)
    w["center"] = int(rng.integers(3))  # 0 dashed white, 1 double yellow, 2 solid white
    w["dash"] = (U(2.0, 4.0), U(6.0, 12.0))
    w["paving"] = hsv(U(0.0, 0.12), U(0.0, 0.35), U(0.35, 0.7))
    w["tile"] = U(0.3, 0.8)
    w["grass"] = hsv(U(0.12, 0.3), U(0.3, 0.7), U(0.2, 0.5))
    w["dirt"] = hsv(U(0.06, 0.12), U(0.25, 0.5), U(0.25, 0.5))
    w["ns"] = int(rng.integers(1 << 30))
    cw = []
    z = zlo + U(10, 60)
    while z < zhi:
        cw.append(z)
        z += U(45, 130)
    w["crosswalks"] = np.array(cw + [1e9], np.float64)
    # side streets joining at some crosswalks (per side): intervals [z0, z1)
    cross = {1: [], -1: []}
    for zc in cw:
        for s_ in (1, -1):
            if rng.random() < 0.45:
                cross[s_].append((zc + 4.3, zc + 4.3 + U(7, 14)))
    w["cross"] = {k: (np.array([a for a, b in v] + [1e9]), np.array([b for a, b in v] + [1e9])) for k, v in cross.items()}
    objs = []
    # ---- lots (buildings, walls, fences, hedges, parks) per side
    lots = {}
    for s in (1, -1):
        sd = side[s]
        P = sd["prop"]
        starts, yard = [], []
        z = zlo - 40
        cs0, cs1 = w["cross"][s]
        while z < zhi + 40:
            L = U(8, 30)
            kind = rng.choice(4, p=[0.4, 0.3, 0.2, 0.1])
            ci = int(np.searchsorted(cs1, z, "right"))
            if cs0[ci] <= z < cs1[ci]:  # inside a side street: leave open
                starts.append(z)
                yard.append(False)
                z = float(cs1[ci])
                continue
            if z + L > cs0[ci]:
                L = max(float(cs0[ci]) - z, 0.5)
            starts.append(z)
            yard.append(kind == 2 or (kind == 1 and rng.random() < 0.6))
            z0, z1 = z, z + L
            if kind in (0, 1):
                setback = 0.0 if kind == 0 else U(1.5, 6.0)
                hgt = float(np.exp(U(np.log(5), np.log(35))))
                dep = U(10, 22)
                Xin = P + s * setback
                zz0 = z0 + (U(0, 3) if rng.random() < 0.3 else 0.0)
                X0, X1 = sorted((Xin, Xin + s * dep))
                objs.append(dict(kind="bld", layer=1, z=zz0, z1=z1, X0=X0, X1=X1, h=hgt,
                                 tex=t_facade(rng, hgt, z1 - zz0), tex2=t_facade(rng, hgt, dep)))
            if kind == 2:
                for _ in range(int(L / U(3, 7))):
                    d_in = U(1.5, 12)
                    objs.append(dict(kind="tree", layer=1, z=U(z0, z1), x=P + s * d_in, p=make_tree(rng)))
            if kind in (1, 2) and rng.random() < 0.85:
                f = rng.choice(3, p=[0.45, 0.4, 0.15])
                X0, X1 = sorted((P, P + s * 0.25))
                if f == 0:
                    tw, cap, base = t_wall(rng)
                    objs.append(dict(kind="wall", layer=2, z=z0, z1=z1, X0=X0, X1=X1, h=U(0.5, 2.8), tex=tw))
                elif f == 1:
                    X0, X1 = sorted((P, P + s * 0.05))
                    objs.append(dict(kind="fence", layer=2, z=z0, z1=z1, X0=X0, X1=X1, h=U(0.9, 2.2), tex=t_fence(rng)))
                else:
                    X0, X1 = sorted((P, P + s * U(0.6, 1.2)))
                    objs.append(dict(kind="hedge", layer=2, z=z0, z1=z1, X0=X0, X1=X1, h=U(0.8, 2.2),
                                     col=hsv(U(0.2, 0.35), U(0.4, 0.8), U(0.15, 0.4)), ns=int(rng.integers(1 << 30))))
            if rng.random() < 0.75:  # back row
                hgt = float(np.exp(U(np.log(10), np.log(45))))
                Xin = P + s * U(22, 40)
                X0, X1 = sorted((Xin, Xin + s * 15))
                objs.append(dict(kind="bld", layer=0, z=z0, z1=z1, X0=X0, X1=X1, h=hgt,
                                 tex=t_facade(rng, hgt, L), tex2=t_facade(rng, hgt, 15)))
            z = z1
        lots[s] = (np.array(starts), np.array(yard + [False]))
    w["lots"] = lots
    # standalone walls along the sidewalk (low walls / fences right behind the curb)
    # ---- street furniture along both curbs
    pole_col = [np.array(c, np.float32) for c in ((0.35, 0.36, 0.38), (0.15, 0.17, 0.16), (0.55, 0.56, 0.58), (0.12, 0.22, 0.16), (0.25, 0.22, 0.2))]
    for s in (1, -1):
        sd = side[s]
        xc = sd["edge"] + s * U(0.45, 0.8)
        pc = pole_col[rng.integers(len(pole_col))]
        z = zlo + U(0, 20)
        sl_gap = U(18, 32)
        while z < zhi:  # street lights
            objs.append(dict(kind="slight", layer=3, z=z, x=xc, side=s,
                             p=dict(w=U(0.16, 0.3), h=U(6.5, 10), col=pc * U(0.8, 1.2), arm=U(0.8, 2.5))))
            z += sl_gap
        z = zlo + U(0, 15)
        while z < zhi:  # sign poles
            n = 1 if rng.random() < 0.65 else 2
            objs.append(dict(kind="sign", layer=3, z=z, x=xc + s * U(-0.2, 0.6), p=dict(
                w=U(0.08, 0.14), h=U(2.4, 3.4), col=pole_col[rng.integers(len(pole_col))],
                signs=[make_sign(rng, back=(s < 0 and rng.random() < 0.6)) for _ in range(n)])))
            z += U(10, 28)
        z = zlo + U(0, 25)
        while z < zhi:  # pedestrian / minor traffic lights
            objs.append(dict(kind="tl", layer=3, z=z, x=xc + s * U(-0.1, 0.3), side=s, p=dict(
                w=U(0.12, 0.2), h=U(2.8, 4.2), col=pole_col[rng.integers(len(pole_col))], tl=make_tl(rng, back=(s < 0 and rng.random() < 0.5)),
                tl2=make_tl(rng, False) if rng.random() < 0.3 else None)))
            z += U(25, 60)
        if sd["verge"] > 0 or rng.random() < 0.5:  # street trees
            xt = sd["edge"] + s * (0.25 + (sd["verge"] / 2 if sd["verge"] > 0 else U(0.8, 1.5)))
            z = zlo + U(0, 10)
            gap = U(7, 15)
            while z < zhi:
                objs.append(dict(kind="tree", layer=3, z=z + U(-1, 1), x=xt, p=make_tree(rng, U(1.2, 2.8))))
                z += gap
        # pedestrian railings (fence) / low walls along the curb or verge, in segments
        z = zlo + U(0, 30)
        while z < zhi:
            L = U(6, 30)
            if rng.random() < 0.45:
                xf = sd["edge"] + s * (U(0.3, 0.5) if sd["verge"] == 0 or rng.random() < 0.5 else 0.25 + sd["verge"])
                # split into short chunks so that depth sorting against road objects stays right
                if rng.random() < 0.65:
                    X0, X1 = sorted((xf, xf + s * 0.05))
                    kw = dict(kind="fence", h=U(0.8, 1.3), tex=t_fence(rng))
                else:
                    X0, X1 = sorted((xf, xf + s * 0.3))
                    kw = dict(kind="wall", h=U(0.4, 1.2), tex=t_wall(rng)[0])
                for zc in np.arange(z, z + L, 2.5):
                    objs.append(dict(kw, layer=3, z=float(zc), z1=float(min(zc + 2.5, z + L)), zref=z, x=xf, X0=X0, X1=X1))
            z += L + U(5, 40)
        # bollards/poles near the curb
        z = zlo + U(0, 10)
        while z < zhi:
            if rng.random() < 0.5:
                objs.append(dict(kind="pole", layer=3, z=z, x=sd["edge"] + s * 0.4, p=dict(w=U(0.1, 0.2), h=U(0.8, 1.2), col=pole_col[rng.integers(5)])))
            z += U(4, 12)
    # traffic lights with mast arms at crosswalks
    for zc in cw:
        for s in (1, -1):
            sd = side[s]
            if s < 0 and rng.random() < 0.4:
                continue
            xc = sd["edge"] + s * U(0.5, 0.9)
            mast = None
            if rng.random() < 0.65:
                ln = U(3.0, max(3.5, 0.8 * abs(sd["edge"]) + 2))
                lights = [(ln * q, make_tl(rng, back=(s < 0))) for q in sorted(U(0.45, 1.0, size=int(rng.integers(1, 3))))]
                mast = dict(len=ln, y=U(5.2, 6.5), lights=lights, sign=make_sign(rng, s < 0) if rng.random() < 0.5 else None, signoff=ln * 0.3)
            objs.append(dict(kind="tl", layer=3, z=zc - s * U(1.0, 3.0) + (0 if s > 0 else 6), x=xc, side=s, p=dict(
                w=U(0.14, 0.22), h=U(3.0, 4.2), col=pole_col[rng.integers(len(pole_col))], tl=make_tl(rng, back=(s < 0)),
                tl2=make_tl(rng, s < 0) if rng.random() < 0.4 else None, mast=mast)))
    # ---- people on sidewalks and at crosswalks
    span = abs(speed) * T + 40
    for s in (1, -1):
        sd = side[s]
        a, b = sd["edge"] + s * (0.35 + sd["verge"]), sd["prop"] - s * 0.3
        lo_x, hi_x = min(a, b), max(a, b)
        z = zlo - span
        while z < zhi + span:
            grp = int(rng.choice([1, 1, 1, 2, 2, 3]))
            vz = U(0.8, 1.6) * (1 if rng.random() < 0.5 else -1) if rng.random() < 0.75 else 0.0
            for g in range(grp):
                p = make_person(rng)
                p["dirn"] = 1 if vz >= 0 else -1
                objs.append(dict(kind="person", layer=3, z=z + U(-1, 1), vz=vz, x=U(lo_x, hi_x), p=p, ph=U(0, 6.3)))
            z += U(3, 10)
        # parked bicycles / motorcycles on the sidewalk
        z = zlo + U(0, 20)
        while z < zhi:
            kind = BIKE if rng.random() < 0.6 else MOTO
            for g in range(int(rng.integers(1, 4))):
                objs.append(dict(kind="tw", layer=3, z=z + g * U(0.6, 0.9), x=U(lo_x, hi_x) if rng.random() < 0.5 else sd["edge"] + s * 0.9,
                                 p=make_twowheeler(rng, kind)))
            z += U(12, 35)
    for zc in cw:  # crosswalk people
        for _ in range(int(rng.integers(0, 5))):
            p = make_person(rng)
            vx = U(0.9, 1.5) * (1 if rng.random() < 0.5 else -1)
            p["k"] = U(0.6, 1.0)
            p["dirn"] = 1 if vx > 0 else -1
            objs.append(dict(kind="person", layer=3, z=zc + U(0.5, 3.5), x=U(xl, xr), vx=vx, xr=(xl - 2, xr + 2), p=p, ph=U(0, 6.3)))
        if rng.random() < 0.5:  # rider crossing
            kind = BIKE if rng.random() < 0.7 else MOTO
            p = make_twowheeler(rng, kind)
            p["k"] = U(0.7, 1.0)
            vx = U(2, 5) * (1 if rng.random() < 0.5 else -1)
            p["dirn"] = 1 if vx > 0 else -1
            objs.append(dict(kind="tw", layer=3, z=zc + U(0.5, 3.5), x=U(xl, xr), vx=vx, xr=(xl - 3, xr + 3), p=p, rider=_rider(rng, kind), ph=0.0))
    # ---- traffic
    lanes = []
    for i in range(n_r):
        lanes.append(((i + 0.5) * lw, 1))
    for i in range(n_l):
        lanes.append((-(i + 0.5) * lw, -1))
    for (xlane, dirn) in lanes:
        own = dirn > 0 and abs(xlane - w["cam_x"]) < 0.1
        if own:
            v = speed
        elif dirn > 0:
            v = speed * U(0.6, 1.3)
        else:
            v = -U(7, 14) if speed > 0 else 0.0
        tram_lane = tram and abs(xlane) < lw
        ext = abs(v - speed) * T + 30
        z = zlo - ext if not own else U(12, 35)
        while z < zhi + ext:
            r = rng.random()
            if tram_lane and r < 0.4:
                kind = TRAIN
            else:
                kind = CAR if r < 0.68 else (TRUCK if r < 0.84 else BUS)
            p = make_vehicle(rng, kind, front=dirn < 0)
            objs.append(dict(kind="veh", layer=3, z=z, vz=v, x=xlane + U(-0.3, 0.3) * (kind != TRAIN), p=p))
            z += p["L"] + U(10, 70) * (1.6 if own else 1.0)
        # riders along the right edge of the lane
        if abs(xlane) > (n_r - 1) * lw if dirn > 0 else abs(xlane) > (n_l - 1) * lw:
            z = zlo - ext
            while z < zhi + ext:
                kind = BIKE if rng.random() < 0.6 else MOTO
                p = make_twowheeler(rng, kind)
                p["dirn"] = dirn
                objs.append(dict(kind="tw", layer=3, z=z, vz=(U(3, 6) if kind == BIKE else U(6, 10)) * dirn if speed > 0 else 0.0,
                                 x=xlane + dirn * U(lw / 2 - 0.6, lw / 2 - 0.3), p=p, rider=_rider(rng, kind), ph=U(0, 6.3)))
                z += U(15, 45)
    # parked vehicles
    for s, pw in ((1, park_r), (-1, park_l)):
        if pw <= 0:
            continue
        xp = side[s]["edge"] - s * pw / 2
        z = zlo + U(-5, 5)
        while z < zhi:
            r = rng.random()
            if r < 0.08:
                p = make_twowheeler(rng, MOTO)
                objs.append(dict(kind="tw", layer=3, z=z, x=xp + U(-0.5, 0.5), p=p))
                z += U(1.5, 3)
                continue
            kind = CAR if r < 0.88 else TRUCK
            p = make_vehicle(rng, kind, front=(s < 0) != (rng.random() < 0.2))
            objs.append(dict(kind="veh", layer=3, z=z, x=xp + U(-0.15, 0.15), p=p))
            z += p["L"] + U(1.0, 10) + (U(8, 30) if rng.random() < 0.3 else 0)
    def _in_cross(o):
        if o["kind"] not in ("tree", "slight", "sign", "pole", "fence", "wall", "tl", "tw") or o["layer"] != 3:
            return False
        x = o.get("x", 0.0)
        s_ = 1 if x > xr else (-1 if x < xl else 0)
        if s_ == 0:
            return False
        cs0, cs1 = w["cross"][s_]
        z0 = o["z"] - 1.0
        z1 = o.get("z1", o["z"]) + 1.0
        ci = int(np.searchsorted(cs1, z0, "right"))
        return z1 > cs0[ci] and z0 < cs1[ci]
    w["objs"] = [o for o in objs if not _in_cross(o)]
    # backdrop silhouettes (at infinity)
    w["backdrop"] = [(U(-0.8, 0.8), U(0.02, 0.2), U(0.005, 0.08), rng.random() < 0.3, hsv(U(0, 1), U(0, 0.3), U(0.3, 0.7))) for _ in range(int(rng.integers(8, 25)))]
    return w


def _rider(rng, kind):
    p = make_person(rng)
    p["helm"] = kind == MOTO or rng.random() < 0.3
    p["hgt"] = rng.uniform(1.55, 1.9)
    return p


def _tri(x0, v, t, lo, hi):
    """Position bouncing between lo and hi (triangle wave)."""
    L = hi - lo
    if L <= 0:
        return x0
    q = (x0 - lo + v * t) % (2 * L)
    return lo + (q if q < L else 2 * L - q)


# ----------------------------------------------------------------------------
# per-frame rendering
def make_look(rng):
    """Per-frame appearance: sky, sun, haze, camera imperfections."""
    U = rng.uniform
    kind = rng.choice(4, p=[0.45, 0.3, 0.15, 0.1])
    if kind == 0:  # clear
        zen, hor = hsv(U(0.55, 0.64), U(0.4, 0.75), U(0.55, 0.95)), hsv(U(0.5, 0.6), U(0.05, 0.3), U(0.75, 1.0))
    elif kind == 1:  # overcast
        g = U(0.55, 0.9)
        zen, hor = np.array([g, g, g * U(0.95, 1.08)], np.float32) * 0.85, np.array([g, g, g], np.float32)
    elif kind == 2:  # evening
        zen, hor = hsv(U(0.58, 0.7), U(0.3, 0.6), U(0.3, 0.6)), hsv(U(0.03, 0.12), U(0.3, 0.7), U(0.7, 1.0))
    else:  # hazy
        zen, hor = hsv(U(0.5, 0.62), U(0.1, 0.3), U(0.6, 0.85)), hsv(U(0.1, 0.15), U(0.05, 0.2), U(0.75, 0.95))
    sun = 1 if rng.random() < 0.5 else -1
    strong = U(0.15, 0.45) if kind != 1 else U(0.03, 0.12)
    shade = dict(z=U(0.75, 1.0), top=U(1.0, 1.15), bot=U(0.5, 0.7))
    shade["px" if sun < 0 else "nx"] = 1.0 + strong * 0.4
    shade["nx" if sun < 0 else "px"] = 1.0 - strong
    return dict(kind=int(kind), zen=zen, hor=hor, sun=sun, strong=strong, shade=shade, haze=hor * U(0.85, 1.0),
                fogd=U(120, 600), clouds=U(0, 1) if kind != 1 else 0.0, ns=int(rng.integers(1 << 30)),
                gain=U(0.75, 1.25), tint=np.array([U(0.9, 1.1), 1.0, U(0.9, 1.1)], np.float32), gamma=U(0.85, 1.15),
                blur=U(0.0, 1.2) if rng.random() < 0.7 else 0.0, noise=U(0.005, 0.035), vign=U(0.0, 0.35),
                mblur=int(rng.integers(0, 6)) if rng.random() < 0.15 else 0, shadow_off=U(0.0, 4.0), sat=U(0.7, 1.2))


def draw_sky(cv, look, w):
    c = cv.cam
    H, W = c.H, c.W
    j1 = min(H, max(0, int(math.ceil(c.cy + 1))))
    v = (np.arange(j1, dtype=np.float32) + 0.5)
    t = np.clip((c.cy - v) / max(c.cy, 1), 0, 1) ** 0.6
    col = look["hor"][None, :] * (1 - t[:, None]) + look["zen"][None, :] * t[:, None]
    col = np.broadcast_to(col[:, None, :], (j1, W, 3)).copy()
    if look["clouds"] > 0.05 and j1 > 0:
        h4, w4 = max(j1 // 4, 1), max(W // 4, 1)
        yy = np.arange(h4, dtype=np.float32)[:, None] / h4 * 3.0
        xx = np.arange(w4, dtype=np.float32)[None, :] / w4 * 6.0
        n = 0.65 * vnoise(xx, yy * 2, look["ns"]) + 0.35 * vnoise(xx * 3, yy * 6, look["ns"] + 1)
        cm = np.clip((n - (1 - look["clouds"] * 0.6)) * 3, 0, 1)
        cm = np.asarray(Image.fromarray(cm.astype(np.float32), "F").resize((W, j1), Image.BILINEAR))
        cc = np.array([0.95, 0.95, 0.97], np.float32) * (0.8 + 0.2 * cm[..., None])
        col = col * (1 - cm[..., None]) + cc * cm[..., None]
    cv.paint(0, 0, np.ones((j1, W), bool), col, SKY)
    # backdrop silhouettes at infinity
    for (cxr, hr, wr, veg, bc) in w["backdrop"]:
        u0 = c.cx + cxr * W * 0.5
        hp = hr * H * 0.35
        i0, i1 = _span(u0 - wr * W, u0 + wr * W, W)
        j0, jj1 = _span(c.cy - hp, c.cy + 1, H)
        if i1 <= i0 or jj1 <= j0:
            continue
        m = np.ones((jj1 - j0, i1 - i0), bool)
        if veg:
            A = np.arange(i0, i1)[None, :] / W * 40
            B = np.arange(j0, jj1)[:, None] / H * 40
            m &= (np.arange(j0, jj1)[:, None] > c.cy - hp * (0.6 + 0.4 * vnoise(A, 0, 5))) | (vnoise(A, B, 6) > 0.7)
        col = bc * 0.5 + look["haze"] * 0.5 if not veg else hsv(0.3, 0.3, 0.35) * 0.4 + look["haze"] * 0.6
        cv.paint(j0, i0, m, np.broadcast_to(np.asarray(col, np.float32), m.shape + (3,)), VEG if veg else BUILDING)


def draw_ground(cv, look, w):
    c = cv.cam
    H, W = c.H, c.W
    j0 = max(0, int(math.ceil(c.cy + 0.05)))
    if j0 >= H:
        return
    v = np.arange(j0, H, dtype=np.float32) + 0.5
    d = (c.f * c.h / (v - c.cy)).astype(np.float32)
    u = np.arange(W, dtype=np.float32) + 0.5
    X = c.x + (u[None, :] - c.cx) * d[:, None] / c.f
    Z = c.z + np.broadcast_to(d[:, None], X.shape)
    xr, xl = w["xr"], w["xl"]
    sd = w["side"]
    right = X > xr
    left = X < xl
    t = np.where(right, X - xr, xl - X)
    verge = np.where(right, sd[1]["verge"], sd[-1]["verge"])
    swid = np.where(right, sd[1]["sw"], sd[-1]["sw"])
    lab = np.full(X.shape, ROAD, np.uint8)
    side_m = right | left
    lab[side_m] = SIDEWALK
    lab[side_m & (t > 0.25) & (t < 0.25 + verge)] = TERRAIN
    beyond = side_m & (t >= 0.25 + verge + swid)
    for s, m_s in ((1, right), (-1, left)):
        starts, yard = w["lots"][s]
        idx = np.clip(np.searchsorted(starts, Z, "right") - 1, 0, len(starts) - 1)
        lab[beyond & m_s & yard[idx]] = TERRAIN
    for s_, m_s in ((1, right), (-1, left)):
        cs0, cs1 = w["cross"][s_]
        ci = np.searchsorted(cs1, Z, "right")
        inx = m_s & (Z >= cs0[ci]) & (Z < cs1[ci]) & (t > 0.25 + 0.0)
        lab[inx] = ROAD
    ns = w["ns"]
    n1 = vnoise(X * 0.35, Z * 0.35, ns)
    n2 = vnoise(X * 3.0, Z * 3.0, ns + 1)
    img = np.empty(X.shape + (3,), np.float32)
    # road
    road = lab == ROAD
    rc = w["asphalt"] * (0.8 + 0.3 * n1 + 0.15 * n2)[..., None]
    # markings
    lw = w["lw"]
    dl, dp = w["dash"]
    mk = np.zeros(X.shape, bool)
    for i in range(1, w["n_r"]):
        mk |= (np.abs(X - i * lw) < 0.07) & ((Z % dp) < dl)
    for i in range(1, w["n_l"]):
        mk |= (np.abs(X + i * lw) < 0.07) & ((Z % dp) < dl)
    yel = np.zeros(X.shape, bool)
    if w["n_l"] > 0:
        if w["center"] == 0:
            mk |= (np.abs(X) < 0.07) & ((Z % dp) < dl)
        elif w["center"] == 1:
            yel |= (np.abs(np.abs(X) - 0.12) < 0.06)
        else:
            mk |= np.abs(X) < 0.08
    mk |= np.abs(X - (w["n_r"] * lw)) < 0.08
    mk |= np.abs(X + (w["n_l"] * lw)) < 0.08
    cwz = w["crosswalks"]
    k = np.clip(np.searchsorted(cwz, Z, "right") - 1, 0, len(cwz) - 1)
    rel = Z - cwz[k]
    zebra = (rel >= 0) & (rel < 4.0) & ((X % 1.1) < 0.55)
    stop = (rel < 0) & (rel > -0.4) & (X > 0) & (X < w["n_r"] * lw)
    rel2 = Z - cwz[np.clip(k + 1, 0, len(cwz) - 1)]
    stop |= (rel2 > -1.6) & (rel2 < -1.2) & (X > 0) & (X < w["n_r"] * lw)
    mk = (mk & ~((rel >= -0.5) & (rel < 4.5))) | zebra | stop
    mk &= road
    yel &= road
    for mm, mc in ((mk, w["mark"]), (yel, np.array([0.85, 0.7, 0.15], np.float32))):
        if mm.any():
            wear = vnoise(X[mm] * 4, Z[mm] * 1.5, ns + 2)
            rc[mm] = np.where((wear > 0.25)[:, None], mc * (0.85 + 0.2 * n2[mm])[:, None], rc[mm])
    if w["tram"]:
        for xt in ((lw / 2,) + ((-lw / 2,) if w["n_l"] else ())):
            for rx in (xt - 0.7175, xt + 0.7175):
                rc = np.where((np.abs(X - rx) < 0.05)[..., None], np.array([0.6, 0.6, 0.62], np.float32), rc)
                rc = np.where((np.abs(X - rx - 0.07) < 0.02)[..., None], rc * 0.4, rc)
    img[:] = rc
    # sidewalk
    swm = lab == SIDEWALK
    tl = w["tile"]
    grout = ((X % tl) < 0.025) | ((Z % tl) < 0.025)
    sc = w["paving"] * (0.85 + 0.2 * n1[swm] + 0.12 * n2[swm])[:, None]
    gm = (grout & (d[:, None] < 25))[swm]
    sc[gm] *= 0.8
    curb = (side_m & (t < 0.25))[swm]
    sc[curb] = np.array([0.62, 0.62, 0.6], np.float32) * (0.85 + 0.2 * n2[swm][curb])[:, None]
    img[swm] = sc
    # terrain
    tm = lab == TERRAIN
    if tm.any():
        n3 = vnoise(X[tm] * 1.1, Z[tm] * 1.1, ns + 3)
        mix = np.clip((n3 - 0.35) * 3, 0, 1)[:, None]
        img[tm] = (w["grass"] * (1 - mix) + w["dirt"] * mix) * (0.7 + 0.25 * n1[tm] + 0.4 * n2[tm])[:, None]
    # shadows of buildings on the sun-opposite side
    s = -look["sun"]
    edge = sd[s]["edge"]
    shadow = (s * (X - edge) > look["shadow_off"] * (1 if look["kind"] != 1 else 99))
    img[shadow] *= (1 - look["strong"] * 1.2)
    cv.paint(j0, 0, np.ones(X.shape, bool), img, None, 0, np.broadcast_to(d[:, None], X.shape))
    cv.lab[j0:] = lab
    cv.inst[j0:] = 0


def _draw_obj(cv, o, t):
    cv.obj = id(o)
    try:
        _draw_obj_body(cv, o, t)
    finally:
        cv.obj = None


def _draw_obj_body(cv, o, t):
    k = o["kind"]
    z = o["z"] + o.get("vz", 0.0) * t
    x = o.get("x", 0.0) if "vx" not in o else _tri(o["x"], o["vx"], t, *o["xr"])
    if k == "veh":
        draw_vehicle(cv, o["p"], x, z)
    elif k == "person":
        ph = o["ph"] + t * 6.0 * (abs(o.get("vz", 0.0)) + abs(o.get("vx", 0.0))) / 1.7
        p = o["p"]
        if "vx" in o:
            q = (o["x"] - o["xr"][0] + o["vx"] * t) % (2 * (o["xr"][1] - o["xr"][0]))
            p = dict(p, dirn=(1 if o["vx"] > 0 else -1) * (1 if q < o["xr"][1] - o["xr"][0] else -1))
        draw_person(cv, x, z, p, ph)
    elif k == "tw":
        ph = o.get("ph", 0.0) + t * 5.0
        draw_twowheeler(cv, x, z, o["p"], o.get("rider"), ph)
    elif k == "tree":
        draw_tree(cv, x, z, o["p"])
    elif k == "slight":
        draw_streetlight(cv, x, z, o["p"], o["side"])
    elif k == "sign":
        draw_signpole(cv, x, z, o["p"])
    elif k == "tl":
        draw_tlpole(cv, x, z, o["p"], o["side"])
    elif k == "pole":
        draw_pole(cv, x, z, o["p"]["w"], o["p"]["h"], o["p"]["col"])
    elif k == "bld":
        box(cv, o["X0"], o["X1"], 0.0, o["h"], o["z"], o["z1"], o["tex2"], o["tex"], None, BUILDING)
    elif k == "wall":
        box(cv, o["X0"], o["X1"], 0.0, o["h"], o["z"], o["z1"], o["tex"], o["tex"], o["tex"], WALL, zref=o.get("zref"))
    elif k == "fence":
        box(cv, o["X0"], o["X1"], 0.0, o["h"], o["z"], o["z1"], o["tex"], o["tex"], None, FENCE, zref=o.get("zref"))
    elif k == "hedge":
        tv = t_veg(o["col"], o["ns"], top=o["h"])
        tt = t_veg(o["col"], o["ns"])
        box(cv, o["X0"], o["X1"], 0.0, o["h"], o["z"], o["z1"], tv, tv, tt, VEG)


def _obj_zrange(o, t):
    z = o["z"] + o.get("vz", 0.0) * t
    if "z1" in o:
        return z, o["z1"] + o.get("vz", 0.0) * t
    if o["kind"] == "veh":
        return z, z + o["p"]["L"]
    return z - 2, z + 2


def _shadows(cv, look, objs, t):
    f = 1 - look["strong"] * 1.1
    off = 0.6 * look["strong"] * 3 * (-look["sun"])
    tex = lambda A, B, d: np.full(A.shape, f, np.float32)  # noqa: E731
    for o in objs:
        if o["kind"] == "veh":
            z = o["z"] + o.get("vz", 0.0) * t
            p = o["p"]
            face_y(cv, 0.0, o["x"] - p["w"] / 2 - 0.15 + min(off, 0), o["x"] + p["w"] / 2 + 0.15 + max(off, 0),
                   z - 0.2, z + p["L"] + 0.2, tex, None, mul=True)


_CULL_R = {"wall": 0.3, "fence": 0.3, "tl": 11.0, "tree": 4.5, "slight": 3.0, "veh": 1.5, "person": 0.6, "tw": 1.0, "sign": 0.8, "pole": 0.3}


def render_frame(w, look, cam, t, stable=None):
    cv = Canvas(cam, look["haze"], look["fogd"], look["shade"])
    cv.stable = stable
    draw_sky(cv, look, w)
    draw_ground(cv, look, w)
    far = 260.0
    vis = []
    hw = cam.W * 0.5
    for o in w["objs"]:
        z0, z1 = _obj_zrange(o, t)
        if z1 < cam.z + NEAR or z0 > cam.z + far:
            continue
        k = o["kind"]
        if "x" in o:  # horizontal / size culling
            x = o["x"] if "vx" not in o else _tri(o["x"], o["vx"], t, *o["xr"])
            R = _CULL_R.get(k, 3.0)
            dn = max(z0 - cam.z, NEAR)
            df = max(z1 - cam.z, NEAR)
            ua = (x - cam.x) * cam.f / dn
            ub = (x - cam.x) * cam.f / df
            if (min(ua, ub) - R * cam.f / dn > hw + abs(cam.cx - hw)) or (max(ua, ub) + R * cam.f / dn < -hw - abs(cam.cx - hw)):
                continue
            if k in ("person", "tw") and cam.f * 1.9 / dn < 9:
                continue
        vis.append((o["layer"], -max(z0, cam.z), o))
    _shadows(cv, look, [v[2] for v in vis if v[2]["kind"] == "veh"], t)
    vis.sort(key=lambda q: (q[0], q[1]))
    # front lots first (recording coverage), then the back row only where uncovered
    cv.mark_occ = True
    for L, _, o in vis:
        if L == 1:
            _draw_obj(cv, o, t)
    cv.mark_occ = False
    cv.restrict = True
    for L, _, o in vis:
        if L == 0:
            _draw_obj(cv, o, t)
    cv.restrict = False
    for L, _, o in vis:
        if L >= 2:
            _draw_obj(cv, o, t)
    return cv


def finish_image(cv, look, rng_seed):
    img = cv.img
    H, W = img.shape[:2]
    sc = W / 1024.0
    img = img * look["gain"] * look["tint"]
    g = img.mean(axis=2, keepdims=True)
    img = g + (img - g) * look["sat"]
    if look["vign"] > 0:
        yy = (np.arange(H, dtype=np.float32) - H / 2) / (H / 2)
        xx = (np.arange(W, dtype=np.float32) - W / 2) / (W / 2)
        img = img * (1 - look["vign"] * 0.5 * (yy[:, None] ** 2 + xx[None, :] ** 2))[..., None]
    img = np.clip(img, 0, 1) ** look["gamma"]
    if look["blur"] > 0.05:
        img = ndimage.gaussian_filter(img, (look["blur"] * sc, look["blur"] * sc, 0), truncate=2.5)
    if look["mblur"] > 0:
        img = ndimage.uniform_filter1d(img, max(1, int(look["mblur"] * sc)), axis=1)
    nrng = _gen(rng_seed)
    img += nrng.standard_normal((H, W, 3), dtype=np.float32) * np.float32(look["noise"] * 0.7)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _finish_labels(cv, renumber=True):
    lab = cv.lab
    inst = cv.inst.copy()
    stuff = inst == 0
    inst[stuff] = _TRAIN_TO_LABEL[lab[stuff]].astype(np.int32)
    # renumber visible instances k = 0, 1, 2, ... per class (in drawing order); clips keep their stable ids
    th = ~stuff
    if renumber and th.any():
        u, inv = np.unique(inst[th], return_inverse=True)
        cls = u // 1000
        k = np.arange(len(u)) - np.searchsorted(cls, cls)
        inst[th] = (cls * 1000 + k)[inv.ravel()]
    return lab.copy(), inst


def _camera(rng, w, H, W, z):
    f = W * rng.uniform(0.95, 1.2)
    cy = H * rng.uniform(0.40, 0.5)
    cx = W * 0.5 + W * rng.uniform(-0.03, 0.03)
    return Cam(H, W, f, cx, cy, rng.uniform(1.2, 1.75), w["cam_x"] + rng.uniform(-0.4, 0.4), z)


def render_scene(seed: int, height: int = 512, width: int = 1024):
    """One street frame -> (rgb uint8 HxWx3, trainIds uint8 HxW, instanceIds int32 HxW)."""
    w = build_world(seed, -60.0, 280.0)
    rng = _gen([seed, 1])
    cam = _camera(rng, w, height, width, 0.0)
    look = make_look(rng)
    cv = render_frame(w, look, cam, 0.0)
    rgb = finish_image(cv, look, [seed, 2])
    lab, inst = _finish_labels(cv)
    return rgb, lab, inst


def render_clip(seed: int, n_frames: int, height: int = 512, width: int = 1024, fps: float = 25.0):
    """Continuous forward drive; yields (rgb, trainIds, instanceIds) per frame."""
    rng = _gen([seed, 3])
    speed = rng.uniform(7.0, 13.0)
    T = n_frames / fps
    w = build_world(seed, -60.0, speed * T + 280.0, speed, T)
    cam0 = _camera(rng, w, height, width, 0.0)
    look = make_look(rng)
    look["mblur"] = 0
    bob = rng.uniform(0.0, 0.004) * height
    stable = {}  # instance ids stable across the clip's frames (one per object and class)
    for i in range(n_frames):
        t = i / fps
        cam = Cam(height, width, cam0.f, cam0.cx, cam0.cy + bob * math.sin(2 * math.pi * 1.3 * t), cam0.h, cam0.x, speed * t)
        cv = render_frame(w, look, cam, t, stable)
        rgb = finish_image(cv, look, [seed, 4, i])
        lab, inst = _finish_labels(cv, renumber=False)
        yield rgb, lab, inst
