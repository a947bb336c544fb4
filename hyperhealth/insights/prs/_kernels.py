"""Compiled (numba) loops of the VCF reader: one pass over the bytes of a chunk of lines.

``scan`` finds, per line, the first nine tab positions and POS, and keeps the lines whose POS is
wanted or whose ID is a wanted ``rsNNN``. ``genotypes`` decodes the GT field (the first FORMAT
field) of every sample of the kept lines: allele indices of any width, ``.`` missing, ``/`` or
``|``, haploid calls. Compiled on first use and cached next to this file.
"""

from __future__ import annotations

import numpy as np
from numba import njit

TAB, NL, COLON = 9, 10, 58
DOT, SLASH, PIPE = 46, 47, 124


@njit(cache=True, nogil=True)
def _member(x: int, sorted_unique: np.ndarray) -> bool:  # pragma: no cover - compiled
    n = sorted_unique.shape[0]
    if n == 0:
        return False
    i = np.searchsorted(sorted_unique, x)
    return i < n and sorted_unique[i] == x


@njit(cache=True, nogil=True)
def scan(buf: np.ndarray, newlines: np.ndarray, want_pos: np.ndarray,
         want_rs: np.ndarray) -> tuple:  # type: ignore[type-arg,unused-ignore]  # pragma: no cover
    """Returns ``(bad_line, idx, start, end, tabs, pos)`` for the kept lines.

    ``newlines`` are the positions of the line ends (found beforehand with a vectorised
    search), so each line is read only up to its ninth tab. ``idx`` is the 0-based line index
    within the chunk, ``tabs`` has the first nine tab positions (-1 where the line has fewer),
    ``bad_line`` the index of the first line with fewer than 8 fixed columns (-1 if none).
    """
    n_lines = newlines.shape[0]
    idx = np.empty(n_lines, np.int64)
    start = np.empty(n_lines, np.int64)
    end = np.empty(n_lines, np.int64)
    tabs = np.full((n_lines, 9), -1, np.int64)
    pos = np.empty(n_lines, np.int64)
    m = 0
    bad = -1
    t = np.empty(9, np.int64)
    s = 0
    for line in range(n_lines):
        e = newlines[line]
        if line > 0:
            s = newlines[line - 1] + 1
        if e == s:  # blank line
            continue
        nt = 0
        p = s
        while p < e and nt < 9:
            if buf[p] == TAB:
                t[nt] = p
                nt += 1
            p += 1
        if nt < 7:
            if bad < 0:
                bad = line
            continue
        # POS between the first and second tab
        v = 0
        ok = t[1] > t[0] + 1 and t[1] - t[0] - 1 <= 18
        for q in range(t[0] + 1, t[1]):
            c = buf[q]
            if c < 48 or c > 57:
                ok = False
                break
            v = v * 10 + (c - 48)
        if not ok:
            v = -1
        keep = v >= 0 and _member(v, want_pos)
        if not keep and want_rs.shape[0] > 0:
            a = t[1] + 1
            b = t[2]
            if b - a > 2 and (buf[a] | 32) == 114 and (buf[a + 1] | 32) == 115:
                r = 0
                okr = b - a - 2 <= 18
                for q in range(a + 2, b):
                    c = buf[q]
                    if c < 48 or c > 57:
                        okr = False
                        break
                    r = r * 10 + (c - 48)
                keep = okr and _member(r, want_rs)
        if keep:
            idx[m] = line
            start[m] = s
            end[m] = e
            for j in range(nt):
                tabs[m, j] = t[j]
            pos[m] = v
            m += 1
    return bad, idx[:m], start[:m], end[:m], tabs[:m], pos[:m]


@njit(cache=True, nogil=True)
def genotypes(buf: np.ndarray, first: np.ndarray, end: np.ndarray, n: int,
              gt: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Fill ``gt[i, j, :]`` from the GT subfield of sample ``j`` on kept line ``i`` (samples
    start at ``first[i]``). Returns per line 0 (fine), 1 (wrong number of sample columns) or
    2 (a call of ploidy above 2 or an unreadable call)."""
    m = first.shape[0]
    status = np.zeros(m, np.int8)
    for i in range(m):
        p = first[i]
        e = end[i]
        for j in range(n):
            if p > e:
                status[i] = 1
                break
            # fast path: one-digit diploid call ("0/1", "1|0") ending the field
            c0 = buf[p]
            c1 = buf[p + 1]
            c2 = buf[p + 2]
            c3 = buf[p + 3]
            if (48 <= c0 <= 57 and 48 <= c2 <= 57 and (c1 == SLASH or c1 == PIPE)  # noqa: SIM109
                    and (c3 == TAB or c3 == NL)):  # noqa: SIM109
                gt[i, j, 0] = c0 - 48
                gt[i, j, 1] = c2 - 48
                p += 4
                continue
            a0 = -3
            a1 = -3
            k = 0
            bad = False
            while True:
                c = buf[p]
                if c == DOT:
                    val = -1
                    p += 1
                elif 48 <= c <= 57:
                    val = 0
                    while 48 <= buf[p] <= 57:
                        val = val * 10 + (buf[p] - 48)
                        p += 1
                else:
                    bad = True
                    break
                if k == 0:
                    a0 = val
                elif k == 1:
                    a1 = val
                k += 1
                c = buf[p]
                if c == SLASH or c == PIPE:  # noqa: SIM109 (numba: no tuple membership)
                    p += 1
                    continue
                break
            if bad or k > 2 or a0 > 127 or a1 > 127:
                status[i] = 2
                break
            if k == 1:
                gt[i, j, 0] = a0
                gt[i, j, 1] = -2 if a0 >= 0 else -1
            elif a0 < 0 or a1 < 0:
                gt[i, j, 0] = -1
                gt[i, j, 1] = -1
            else:
                gt[i, j, 0] = a0
                gt[i, j, 1] = a1
            # skip the rest of the field
            while p < e and buf[p] != TAB:
                p += 1
            p += 1
        if status[i] == 0 and p != e + 1:
            status[i] = 1
    return status


@njit(cache=True, nogil=True)
def score(gt: np.ndarray, ds: np.ndarray, use_ds: bool, rec: np.ndarray, allele: np.ndarray,
          weight: np.ndarray, mean: bool) -> tuple:  # type: ignore[type-arg,unused-ignore]  # pragma: no cover
    """Per-sample sums of weight x dosage of the counted allele, and missing-call counts.

    A call is missing when either allele is missing or it is haploid (autosomes only), unless
    ``use_ds`` and the record has a DS value for the sample (ALT dosage; the counted allele is
    REF (0) or ALT (1) on such biallelic records). With ``mean`` a missing call counts as the
    mean dosage of the called samples (``2 * frequency``); otherwise as 0.
    """
    n = gt.shape[1]
    sums = np.zeros(n)
    missing = np.zeros(n, np.int64)
    d = np.empty(n)
    miss = np.empty(n, np.bool_)
    for r in range(rec.shape[0]):
        j = rec[r]
        a = allele[r]
        w = weight[r]
        tot = 0.0
        called = 0
        for s in range(n):
            x = np.nan
            if use_ds:
                x = ds[j, s]
            if not np.isnan(x):
                d[s] = x if a == 1 else 2.0 - x
                miss[s] = False
            else:
                g0 = gt[j, s, 0]
                g1 = gt[j, s, 1]
                if g0 < 0 or g1 < 0:
                    miss[s] = True
                    d[s] = 0.0
                else:
                    miss[s] = False
                    d[s] = (1.0 if g0 == a else 0.0) + (1.0 if g1 == a else 0.0)
            if not miss[s]:
                tot += d[s]
                called += 1
        fill = tot / called if (mean and called > 0) else 0.0
        for s in range(n):
            if miss[s]:
                sums[s] += w * fill
                missing[s] += 1
            else:
                sums[s] += w * d[s]
    return sums, missing


@njit(cache=True, nogil=True)
def chrom_runs(buf: np.ndarray, start: np.ndarray,
               end: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """Run number of each line's CHROM (``buf[start:end]``): it goes up by one whenever the
    bytes differ from the previous line's, so a sorted VCF has one run per chromosome."""
    m = start.shape[0]
    run = np.zeros(m, np.int64)
    r = 0
    for i in range(1, m):
        a0, a1, b0, b1 = start[i - 1], end[i - 1], start[i], end[i]
        same = (a1 - a0) == (b1 - b0)
        if same:
            for q in range(a1 - a0):
                if buf[a0 + q] != buf[b0 + q]:
                    same = False
                    break
        if not same:
            r += 1
        run[i] = r
    return run
