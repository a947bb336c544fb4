"""A fast reader of genotypes at chosen sites of a VCF (plain, gzip or bgzip).

Only the records a score can use are parsed in full: the body is scanned in large chunks with
numpy, ``POS`` (and a numeric ``rsNNN`` ``ID``) of every line is read by vectorised digit
arithmetic, and only lines whose position or rsID is wanted go on to have their alleles and
genotypes read. GT fields of the usual shape (one-digit allele indices, ``0/1``, ``1|0``, ``./.``,
haploid ``1``) are decoded for all samples of all selected lines at once; anything else on a line
(allele index >= 10, polyploid calls) sends that line through a plain Python parser. bgzip files are
inflated block by block on two threads (zlib releases the GIL).

Genotypes are kept as allele indices (``int8``; ``-1`` missing, ``-2`` in the second slot for a
haploid call). A call with one allele missing (``./1``) is missing as a whole, as in
``plink2 --vcf-half-call missing``. With ``dosage=True`` the ``DS`` FORMAT field (expected ALT
dosage, Number=A) is read for biallelic records; a sample whose ``DS`` is ``.`` keeps its GT call.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hyperhealth.errors import InputError
from hyperhealth.ingest.vcf import build_from_lengths, build_from_text
from hyperhealth.insights.prs._scorefile import bare_chrom

_CHUNK = 16 << 20  # bytes of uncompressed text parsed at a time
_BGZF_BATCH = 256  # bgzip blocks inflated per batch (<= 16 MiB of text)
_LEN = re.compile(r"length=(\d+)")
_ID = re.compile(r"ID=([^,>]+)")
_DIGITS = np.zeros(256, dtype=np.int16) - 1
_DIGITS[48:58] = np.arange(10)


@dataclass(frozen=True, slots=True)
class VcfSites:
    """Records of a VCF at the wanted sites, with their genotypes.

    ``gt`` has shape ``(records, samples, 2)``; ``ds`` (or ``None``) has shape
    ``(records, samples)`` with the ALT dosage from ``DS`` (NaN where absent or multi-allelic).
    """

    path: str
    samples: tuple[str, ...]
    build: str
    build_evidence: str
    chrom: tuple[str, ...]  # without "chr"
    pos: np.ndarray  # int64
    ids: tuple[str, ...]
    alleles: tuple[tuple[str, ...], ...]  # (REF, ALT1, ...), upper case
    line: np.ndarray  # int64, 1-based line in the file
    gt: np.ndarray  # int8 (records, samples, 2)
    ds: np.ndarray | None
    lines_scanned: int

    def __len__(self) -> int:
        return len(self.pos)


# -- reading the bytes --------------------------------------------------------------------------
def _is_bgzf(head: bytes) -> bool:
    return (len(head) >= 16 and head[:4] == b"\x1f\x8b\x08\x04" and head[12:14] == b"BC")


def _bgzf_blocks(data: bytes) -> Iterator[memoryview]:
    view = memoryview(data)
    off, n = 0, len(data)
    while off < n:
        if data[off:off + 4] != b"\x1f\x8b\x08\x04":
            raise InputError("corrupt bgzip block", where=f"byte {off}",
                             hint="re-compress the VCF with bgzip")
        xlen = struct.unpack_from("<H", data, off + 10)[0]
        bsize = None
        x, xend = off + 12, off + 12 + xlen
        while x < xend:
            si1, si2, slen = data[x], data[x + 1], struct.unpack_from("<H", data, x + 2)[0]
            if si1 == 66 and si2 == 67:
                bsize = struct.unpack_from("<H", data, x + 4)[0]
            x += 4 + slen
        if bsize is None:
            raise InputError("bgzip block without a size", where=f"byte {off}",
                             hint="re-compress the VCF with bgzip")
        yield view[xend:off + bsize + 1 - 8]
        off += bsize + 1


def _inflate(block: memoryview) -> bytes:
    return zlib.decompress(block, -15)


def _text_chunks(path: Path) -> Iterator[bytes]:
    """The file's text in pieces of roughly ``_CHUNK`` bytes (not aligned to lines)."""
    with open(path, "rb") as f:
        head = f.read(18)
    if _is_bgzf(head):
        data = path.read_bytes()
        blocks = list(_bgzf_blocks(data))
        with ThreadPoolExecutor(max_workers=2) as pool:
            for i in range(0, len(blocks), _BGZF_BATCH):
                yield b"".join(pool.map(_inflate, blocks[i:i + _BGZF_BATCH]))
    elif head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as g:
            while piece := g.read(_CHUNK):
                yield piece
    else:
        with open(path, "rb") as f:
            while piece := f.read(_CHUNK):
                yield piece


def _lines_chunks(path: Path) -> Iterator[bytes]:
    """Pieces that each end with a newline."""
    rest = b""
    for piece in _text_chunks(path):
        buf = rest + piece if rest else piece
        cut = buf.rfind(b"\n")
        if cut < 0:
            rest = buf
            continue
        yield buf[:cut + 1]
        rest = buf[cut + 1:]
    if rest:
        yield rest + b"\n"


# -- vectorised field parsing ------------------------------------------------------------------
def _parse_uint(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Unsigned integers written in ``buf[a:b]`` per line; -1 where not all digits."""
    length = b - a
    out = np.zeros(len(a), dtype=np.int64)
    ok = (length > 0) & (length <= 18)
    if not len(a):
        return out
    top = len(buf) - 1
    for j in range(int(min(18, length.max(initial=0)))):
        has = j < length
        d = _DIGITS[buf[np.minimum(a + j, top)]]
        ok &= ~has | (d >= 0)
        out = np.where(has, out * 10 + d, out)
    return np.where(ok, out, -1)


def _header(path: Path, chunks: Iterator[bytes]) -> tuple[list[str], list[str], bytes, int]:
    """Header lines, sample names, the rest of the text after the header, header line count."""
    acc = b""
    for piece in chunks:
        acc += piece
        at = acc.find(b"\n#CHROM") if not acc.startswith(b"#CHROM") else -1
        if acc.startswith(b"#CHROM") or at >= 0:
            start = 0 if at < 0 else at + 1
            end = acc.find(b"\n", start)
            while end < 0:
                nxt = next(chunks, None)
                if nxt is None:
                    end = len(acc)
                    break
                acc += nxt
                end = acc.find(b"\n", start)
            head_text = acc[:start].decode("utf-8", "replace")
            cols = acc[start:end].decode("utf-8", "replace").rstrip("\r").split("\t")
            if len(cols) < 8:
                raise InputError("the '#CHROM' line has fewer than 8 columns",
                                 where=f"{path}", hint="the file is not a valid VCF")
            lines = head_text.splitlines()
            return lines, cols[9:], acc[end + 1:], len(lines) + 1
        if len(acc) > 256 << 20:
            break
    raise InputError("no '#CHROM' header line found", where=str(path),
                     hint="give a VCF 4.x file (.vcf, .vcf.gz)")


def _build(lines: list[str]) -> tuple[str, str]:
    lengths: dict[str, int] = {}
    texts: list[str] = []
    for line in lines:
        if line.startswith("##contig="):
            mi, ml = _ID.search(line), _LEN.search(line)
            if mi and ml:
                lengths[mi.group(1)] = int(ml.group(1))
            if "assembly=" in line:
                texts.append(line)
        elif line.startswith(("##reference=", "##assembly=")):
            texts.append(line)
    found = build_from_lengths(lengths)
    if found is not None:
        return found[0], f"{found[1]} ##contig length(s)"
    named = {b for t in texts if (b := build_from_text(t))}
    if len(named) == 1:
        return named.pop(), "named in the header"
    return "unknown", "no contig lengths or assembly names recognised"


def read_sites(path: str | Path, *, positions: np.ndarray, rsids: np.ndarray,
               dosage: bool = True) -> VcfSites:
    """Read the records whose POS is in ``positions`` or whose ID is ``rs<n>`` with ``n`` in
    ``rsids`` (both int64 arrays). The chromosome is checked later, by the matcher."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such VCF file", where=str(p), hint="check the path")
    chunks = _lines_chunks(p)
    lines, samples, rest, header_lines = _header(p, chunks)
    if not samples:
        raise InputError("the VCF has no sample columns", where=f"{p}:{header_lines}",
                         hint="a score needs genotypes; give a VCF with at least one sample")
    build, evidence = _build(lines)
    want_pos = np.unique(positions.astype(np.int64))
    want_rs = np.unique(rsids.astype(np.int64))
    acc = _Acc(len(samples), dosage)
    lineno = header_lines
    body = [rest] if rest else []
    for piece in _chain(body, chunks):
        lineno = _scan(piece, lineno, want_pos, want_rs, acc, p)
    return acc.finish(str(p), tuple(samples), build, evidence, lineno - header_lines)


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


class _Acc:
    """Collects selected records across chunks."""

    def __init__(self, n_samples: int, dosage: bool) -> None:
        self.n = n_samples
        self.dosage = dosage
        self.chrom: list[str] = []
        self.ids: list[str] = []
        self.alleles: list[tuple[str, ...]] = []
        self.pos: list[np.ndarray] = []
        self.line: list[np.ndarray] = []
        self.gt: list[np.ndarray] = []
        self.ds: list[np.ndarray] = []

    def finish(self, path: str, samples: tuple[str, ...], build: str, evidence: str,
               scanned: int) -> VcfSites:
        n = self.n
        gt = np.concatenate(self.gt) if self.gt else np.zeros((0, n, 2), np.int8)
        ds = (np.concatenate(self.ds) if self.ds else np.zeros((0, n))) if self.dosage else None
        if ds is not None and np.isnan(ds).all():
            ds = None
        return VcfSites(path, samples, build, evidence, tuple(self.chrom),
                        np.concatenate(self.pos) if self.pos else np.zeros(0, np.int64),
                        tuple(self.ids), tuple(self.alleles),
                        np.concatenate(self.line) if self.line else np.zeros(0, np.int64),
                        gt, ds, scanned)


def _scan(piece: bytes, lineno: int, want_pos: np.ndarray, want_rs: np.ndarray, acc: _Acc,
          path: Path) -> int:
    data = piece + b"\n\n\n\n"  # padding: GT look-ahead never runs off the end
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf[:len(piece)] == 10)
    starts = np.empty(len(nl), dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl[:-1] + 1
    ends = nl.astype(np.int64)
    first_line = lineno + 1
    lineno += len(nl)
    keep = ends > starts  # blank lines are ignored
    if not keep.all():
        starts, ends = starts[keep], ends[keep]
        line_no = first_line + np.flatnonzero(keep)
    else:
        line_no = first_line + np.arange(len(starts))
    if not len(starts):
        return lineno
    tabs = np.flatnonzero(buf == 9)
    k = np.searchsorted(tabs, starts)
    if k[-1] + 2 >= len(tabs) or (tabs[np.minimum(k + 2, len(tabs) - 1)] >= ends).any():
        bad = int(np.flatnonzero((k + 2 >= len(tabs))
                                 | (tabs[np.minimum(k + 2, len(tabs) - 1)] >= ends))[0])
        raise InputError("a record has fewer than the 8 fixed VCF columns",
                         where=f"{path}:{line_no[bad]}", hint="the VCF body is malformed")
    t1, t2, t3 = tabs[k], tabs[k + 1], tabs[k + 2]
    pos = _parse_uint(buf, t1 + 1, t2)
    sel = np.isin(pos, want_pos) if len(want_pos) else np.zeros(len(pos), bool)
    if len(want_rs):
        is_rs = (buf[t2 + 1] | 32 == ord("r")) & (buf[t2 + 2] | 32 == ord("s"))
        if is_rs.any():
            rsn = np.full(len(pos), -1, dtype=np.int64)
            idx = np.flatnonzero(is_rs)
            rsn[idx] = _parse_uint(buf, t2[idx] + 3, t3[idx])
            sel |= np.isin(rsn, want_rs)
    if not sel.any():
        return lineno
    _select(data, buf, tabs, k[sel], starts[sel], ends[sel], pos[sel], line_no[sel], acc, path)
    return lineno


def _select(data: bytes, buf: np.ndarray, tabs: np.ndarray, k: np.ndarray, starts: np.ndarray,
            ends: np.ndarray, pos: np.ndarray, line_no: np.ndarray, acc: _Acc,
            path: Path) -> None:
    n = acc.n
    nt = len(tabs)
    # every selected line must have exactly 9 + n fields (8 + n tabs)
    last = k + 7 + n
    okay = (last < nt) & (tabs[np.minimum(last, nt - 1)] < ends)
    okay &= (last + 1 >= nt) | (tabs[np.minimum(last + 1, nt - 1)] > ends)
    if not okay.all():
        bad = int(np.flatnonzero(~okay)[0])
        raise InputError(f"the record does not have {9 + n} tab-separated fields "
                         f"(9 + {n} samples)", where=f"{path}:{line_no[bad]}",
                         hint="every record needs FORMAT and one column per sample")
    m = len(starts)
    fmt_start = tabs[k + 7] + 1
    fmt_end = tabs[k + 8]
    gt_first = ((buf[fmt_start] == ord("G")) & (buf[fmt_start + 1] == ord("T"))
                & np.isin(buf[fmt_start + 2], (ord(":"), 9)))
    s = tabs[k[:, None] + 8 + np.arange(n)[None, :]] + 1  # (m, n) sample field starts
    c0, c1, c2, c3 = buf[s], buf[s + 1], buf[s + 2], buf[s + 3]
    d0, d2 = _DIGITS[c0], _DIGITS[c2]
    dot0, dot2 = c0 == ord("."), c2 == ord(".")
    end_set = (ord(":"), 9, 10)
    sep = (c1 == ord("/")) | (c1 == ord("|"))
    diploid = ((d0 >= 0) | dot0) & sep & ((d2 >= 0) | dot2) & np.isin(c3, end_set)
    haploid = ((d0 >= 0) | dot0) & np.isin(c1, end_set)
    fast = (diploid | haploid).all(axis=1) & gt_first
    gt = np.empty((m, n, 2), dtype=np.int8)
    gt[:, :, 0] = np.where(dot0, -1, d0)
    gt[:, :, 1] = np.where(haploid, -2, np.where(dot2, -1, d2))
    # a half-missing call is missing as a whole
    half = (gt[:, :, 0] == -1) | (gt[:, :, 1] == -1)
    gt[half] = -1
    ds = np.full((m, n), np.nan) if acc.dosage else None
    for i in range(m):
        a = int(starts[i])
        fixed = data[a:int(tabs[k[i] + 5])].split(b"\t")
        chrom, ident, ref, alt = (fixed[0].decode(), fixed[2].decode(),
                                  fixed[3].decode().upper(), fixed[4].decode().upper())
        alleles = (ref, *(x for x in alt.split(",") if x and x != "."))
        acc.chrom.append(bare_chrom(chrom))
        acc.ids.append(ident)
        acc.alleles.append(alleles)
        fmt = data[int(fmt_start[i]):int(fmt_end[i])].decode().split(":")
        if not fast[i]:
            gt[i] = _slow_gt(data, int(s[i, 0]), int(ends[i]), n, fmt, path, int(line_no[i]))
        if ds is not None and "DS" in fmt and len(alleles) == 2:
            ds[i] = _ds(data, int(s[i, 0]), int(ends[i]), n, fmt.index("DS"), len(fmt))
    acc.pos.append(pos.astype(np.int64))
    acc.line.append(line_no.astype(np.int64))
    acc.gt.append(gt)
    if ds is not None:
        acc.ds.append(ds)


def _slow_gt(data: bytes, a: int, b: int, n: int, fmt: list[str], path: Path,
             line: int) -> np.ndarray:
    out = np.full((n, 2), -1, dtype=np.int16)
    if not fmt or fmt[0] != "GT":
        return out.astype(np.int8)  # no GT: every call missing
    for j, field in enumerate(data[a:b].split(b"\t")):
        call = field.split(b":", 1)[0].decode()
        parts = re.split(r"[/|]", call)
        if len(parts) > 2:
            raise InputError(f"sample {j + 1} has a call of ploidy {len(parts)} ({call})",
                             where=f"{path}:{line}", field="GT",
                             hint="only haploid and diploid calls can be scored")
        if any(x == "." or x == "" for x in parts):
            continue
        try:
            idx = [int(x) for x in parts]
        except ValueError:
            raise InputError(f"sample {j + 1} has an unreadable call {call!r}",
                             where=f"{path}:{line}", field="GT",
                             hint="GT must be allele indices such as 0/1 or 1|0") from None
        if max(idx) > 127:
            raise InputError(f"allele index {max(idx)} is too large", where=f"{path}:{line}",
                             field="GT", hint="split records with more than 127 alleles")
        out[j] = (idx[0], idx[1]) if len(idx) == 2 else (idx[0], -2)
    return out.astype(np.int8)


def _ds(data: bytes, a: int, b: int, n: int, at: int, nf: int) -> np.ndarray:
    text = data[a:b]
    parts = text.replace(b"\t", b":").split(b":")
    if len(parts) == n * nf:
        vals = parts[at::nf]
    else:  # trailing FORMAT fields may be dropped per sample
        vals = []
        for field in text.split(b"\t"):
            sub = field.split(b":")
            vals.append(sub[at] if at < len(sub) else b".")
    out = np.full(n, np.nan)
    for j, v in enumerate(vals):
        if v and v != b".":
            try:
                out[j] = float(v)
            except ValueError:
                out[j] = np.nan
    return out
