"""A fast reader of genotypes at chosen sites of a VCF (plain, gzip or bgzip).

Only the records a score can use are parsed in full. The text is inflated (ISA-L; bgzip blocks
on two threads, which release the GIL) in chunks of whole lines, possibly on a background thread
(:class:`Prefetch`) while the caller reads the scoring file. Per chunk, line ends are found with a
vectorised search and compiled loops (``_kernels``, numba) read each line only up to its ninth
tab: ``POS`` (and a numeric ``rsNNN`` ``ID``) decide whether the line is kept, and the GT field
of every sample of the kept lines is decoded (allele indices of any width, ``/`` or ``|``,
``.``, haploid calls). The compiled stage of the next two chunks runs on worker threads while
this thread turns the kept lines' CHROM (once per run of equal names), REF and ALT (single bases
straight from their byte) into coded columns.

Genotypes are kept as allele indices (``int8``; ``-1`` missing, ``-2`` in the second slot for a
haploid call). A call with one allele missing (``./1``) is missing as a whole, as in
``plink2 --vcf-half-call missing``. With ``dosage=True`` and a ``DS`` FORMAT line in the header,
``DS`` (expected ALT dosage, Number=A) is read for biallelic records; a sample whose ``DS`` is
``.`` keeps its GT call. A call of ploidy above 2 or an unreadable call is an error that names
the line.
"""

from __future__ import annotations

import gc
import queue
import re
import struct
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from isal import igzip, isal_zlib

from hyperhealth.errors import InputError
from hyperhealth.ingest.vcf import build_from_lengths, build_from_text
from hyperhealth.insights.prs._scorefile import Coded, bare_chrom

_CHUNK = 16 << 20  # bytes of uncompressed text parsed at a time
_BGZF_BATCH = 256  # bgzip blocks inflated per batch (<= 16 MiB of text)
_LEN = re.compile(r"length=(\d+)")
_ID = re.compile(r"ID=([^,>]+)")


def _kernels() -> Any:
    """The compiled loops, imported on first use (importing numba takes about half a second)."""
    from hyperhealth.insights.prs import _kernels as kernels

    return kernels


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
    chrom: np.ndarray  # str objects, without "chr"
    pos: np.ndarray  # int64
    ids: np.ndarray  # str objects; read only when rsIDs were asked for ("." otherwise)
    ref: np.ndarray  # str objects, upper case
    alt: np.ndarray  # str objects, upper case, comma-separated as in the file
    line: np.ndarray  # int64, 1-based line in the file
    gt: np.ndarray  # int8 (records, samples, 2)
    ds: np.ndarray | None
    lines_scanned: int
    #: chrom, ref and alt as integer codes into small tables (what matching works on)
    codes: Mapping[str, Coded] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pos)

    def alleles(self, j: int) -> tuple[str, ...]:
        """``(REF, ALT1, ...)`` of record ``j``."""
        alt = str(self.alt[j])
        return (str(self.ref[j]), *(a for a in alt.split(",") if a and a != "."))


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
    return isal_zlib.decompress(block, -15)  # ISA-L: ~3x zlib's speed, same output


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
        with igzip.open(path, "rb") as g:
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


class Prefetch:
    """Inflate a VCF's text on a background thread while the caller does other work (reading
    the scoring file); iterate to get the newline-aligned chunks in order. At most ``depth``
    chunks wait in memory. ``close()`` stops the thread early."""

    def __init__(self, path: str | Path, depth: int = 6) -> None:
        self.path = Path(path)
        self._q: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vcf-inflate", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for piece in _lines_chunks(self.path):
                while not self._stop.is_set():
                    try:
                        self._q.put(piece, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._put_final(None)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put_final(exc)

    def _put_final(self, item: BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[bytes]:
        while True:
            item = self._q.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


# -- vectorised field parsing ------------------------------------------------------------------
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
               dosage: bool = True, prefetch: Prefetch | None = None) -> VcfSites:
    """Read the records whose POS is in ``positions`` or whose ID is ``rs<n>`` with ``n`` in
    ``rsids`` (both int64 arrays). The chromosome is checked later, by the matcher."""
    p = Path(path)
    if not p.is_file():
        raise InputError("no such VCF file", where=str(p), hint="check the path")
    chunks = iter(prefetch) if prefetch is not None else _lines_chunks(p)
    lines, samples, rest, header_lines = _header(p, chunks)
    if not samples:
        raise InputError("the VCF has no sample columns", where=f"{p}:{header_lines}",
                         hint="a score needs genotypes; give a VCF with at least one sample")
    build, evidence = _build(lines)
    # DS is looked for only when the header declares it
    dosage = dosage and any(x.startswith("##FORMAT=<ID=DS,") for x in lines)
    want_pos = _sorted_unique(positions)
    want_rs = _sorted_unique(rsids)
    acc = _Acc(len(samples), dosage, want_ids=len(want_rs) > 0)
    lineno = header_lines
    body = [rest] if rest else []
    enabled = gc.isenabled()
    gc.disable()  # many small strings: the cycle collector would rescan them again and again
    try:
        # the compiled stage of chunk i+1 runs on a worker thread (it releases the GIL) while
        # this thread does the Python stage of chunk i
        with ThreadPoolExecutor(max_workers=2) as worker:
            it = _chain(body, chunks)
            pending: deque[Future[_Chunk]] = deque()
            for piece in it:
                pending.append(worker.submit(_compiled, piece, want_pos, want_rs, acc.n))
                if len(pending) >= 2:  # keep two chunks in the compiled stage
                    lineno = _scan(pending.popleft().result(), lineno, acc, p)
            while pending:
                lineno = _scan(pending.popleft().result(), lineno, acc, p)
        return acc.finish(str(p), tuple(samples), build, evidence, lineno - header_lines)
    finally:
        if enabled:
            gc.enable()


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct int64 values (a sort and a neighbour test: cheaper than np.unique's
    hashing for large integer arrays)."""
    v = np.sort(np.asarray(x, dtype=np.int64))
    if len(v) < 2:
        return v
    keep = np.empty(len(v), dtype=bool)
    keep[0] = True
    np.not_equal(v[1:], v[:-1], out=keep[1:])
    return v[keep]


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


class _Acc:
    """Collects selected records across chunks."""

    def __init__(self, n_samples: int, dosage: bool, want_ids: bool = True) -> None:
        self.n = n_samples
        self.dosage = dosage
        self.want_ids = want_ids
        self.fields: list[tuple[Coded, np.ndarray, Coded, Coded]] = []  # CHROM ID REF ALT
        self.pos: list[np.ndarray] = []
        self.line: list[np.ndarray] = []
        self.gt: list[np.ndarray] = []
        self.ds: list[np.ndarray] = []  # DS values of the records that carry DS
        self.ds_rows: list[int] = []
        self.count = 0

    def finish(self, path: str, samples: tuple[str, ...], build: str, evidence: str,
               scanned: int) -> VcfSites:
        n = self.n
        gt = np.concatenate(self.gt) if self.gt else np.zeros((0, n, 2), np.int8)
        ds = None
        if self.ds:  # only records that carry DS have a row of values; NaN elsewhere
            ds = np.full((len(gt), n), np.nan)
            ds[np.array(self.ds_rows)] = np.stack(self.ds)
        chrom_raw = _merge([f[0] for f in self.fields])
        chrom_c = Coded(chrom_raw.codes,
                        np.array([bare_chrom(u) if u else "" for u in chrom_raw.table],
                                 dtype=object))
        chrom = chrom_c.values
        ids = (np.concatenate([f[1] for f in self.fields]) if self.fields
               else np.zeros(0, dtype=object))
        ref_c, alt_c = _merge([f[2] for f in self.fields]), _merge([f[3] for f in self.fields])
        ref, alt = ref_c.values, alt_c.values
        coded = {"chrom": chrom_c, "ref": ref_c, "alt": alt_c}
        return VcfSites(path, samples, build, evidence, chrom,
                        np.concatenate(self.pos) if self.pos else np.zeros(0, np.int64),
                        ids, ref, alt,
                        np.concatenate(self.line) if self.line else np.zeros(0, np.int64),
                        gt, ds, scanned, coded)


_BASE = np.full(256, -1, dtype=np.int64)
for _i, _b in enumerate(b"ACGT"):
    _BASE[_b] = _BASE[_b | 32] = _i
_BASES = np.array(list("ACGT"), dtype=object)


def _allele_codes(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> Coded:
    """Alleles ``buf[a:b]`` upper-cased: single bases by their byte, the rest as strings."""
    single = (b - a == 1)
    code = np.where(single, _BASE[buf[a]], -1)
    other = np.flatnonzero(code < 0)
    if not len(other):
        return Coded(code, _BASES)
    raw = _gather(buf, a[other], b[other] + 1)
    lower = (raw >= 97) & (raw <= 122)
    raw[lower] -= 32
    rest = Coded.of(np.array(raw.tobytes().decode("utf-8", "replace").split("\t")[:-1],
                             dtype=object))
    code[other] = 4 + rest.codes
    return Coded(code, np.concatenate([_BASES, rest.table]))


def _merge(parts: list[Coded]) -> Coded:
    """One coded column from per-chunk coded columns (tables merged by value)."""
    if not parts:
        return Coded(np.zeros(0, dtype=np.int64), np.array([""], dtype=object))
    ids: dict[str, int] = {}
    codes = []
    for c in parts:
        remap = np.array([ids.setdefault(str(u), len(ids)) for u in c.table], dtype=np.int64)
        codes.append(remap[c.codes])
    return Coded(np.concatenate(codes), np.array(list(ids), dtype=object))


def _gather(buf: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The bytes ``buf[a[i]:b[i]]`` of all ``i``, concatenated."""
    lengths = b - a
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.uint8)
    offs = np.cumsum(lengths) - lengths
    idx = np.arange(total, dtype=np.int64) + np.repeat(a - offs, lengths)
    return buf[idx]


@dataclass(frozen=True, slots=True)
class _Chunk:
    """What the compiled stage found in one chunk of lines."""

    data: bytes
    buf: np.ndarray
    n_lines: int
    bad: int
    idx: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    tabs: np.ndarray
    pos: np.ndarray
    gt: np.ndarray
    status: np.ndarray


def _compiled(piece: bytes, want_pos: np.ndarray, want_rs: np.ndarray, n: int) -> _Chunk:
    data = piece + b"\n\n\n\n"  # padding: look-ahead never runs off the end
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf[:len(piece)] == 10)
    n_lines = len(newlines)
    bad, idx, starts, ends, tabs, pos = _kernels().scan(buf, newlines, want_pos, want_rs)
    m = len(idx)
    gt = np.empty((m, n, 2), dtype=np.int8)
    status = np.zeros(m, dtype=np.int8)
    if bad < 0 and m and (tabs[:, 8] >= 0).all():
        status = _kernels().genotypes(buf, tabs[:, 8] + 1, ends, n, gt)
    return _Chunk(data, buf, int(n_lines), int(bad), idx, starts, ends, tabs, pos, gt, status)


def _scan(c: _Chunk, lineno: int, acc: _Acc, path: Path) -> int:
    first_line = lineno + 1
    if c.bad >= 0:
        raise InputError("a record has fewer than the 8 fixed VCF columns",
                         where=f"{path}:{first_line + c.bad}", hint="the VCF body is malformed")
    if len(c.idx):
        _select(c, first_line + c.idx, acc, path)
    return lineno + c.n_lines


def _select(c: _Chunk, line_no: np.ndarray, acc: _Acc, path: Path) -> None:
    data, buf, tabs, starts, ends, pos, gt = c.data, c.buf, c.tabs, c.starts, c.ends, c.pos, c.gt
    n = acc.n
    m = len(starts)
    no_samples = tabs[:, 8] < 0
    if no_samples.any():
        bad = int(np.flatnonzero(no_samples)[0])
        raise InputError(f"the record has no FORMAT and sample columns (expected 9 + {n})",
                         where=f"{path}:{line_no[bad]}",
                         hint="every record needs FORMAT and one column per sample")
    fmt_start = tabs[:, 7] + 1
    fmt_end = tabs[:, 8]
    f2 = buf[fmt_start + 2]
    gt_first = ((buf[fmt_start] == ord("G")) & (buf[fmt_start + 1] == ord("T"))
                & ((f2 == ord(":")) | (f2 == 9)))
    status = np.where(gt_first, c.status, 0)  # without GT the first subfield is not a call
    if status.any():
        i = int(np.flatnonzero(status)[0])
        if status[i] == 1:
            raise InputError(f"the record does not have {9 + n} tab-separated fields "
                             f"(9 + {n} samples)", where=f"{path}:{line_no[i]}",
                             hint="every record needs FORMAT and one column per sample")
        fmt = data[int(fmt_start[i]):int(fmt_end[i])].decode().split(":")
        _slow_gt(data, int(fmt_end[i]) + 1, int(ends[i]), n, fmt, path, int(line_no[i]))
        raise InputError("a genotype call cannot be read", where=f"{path}:{line_no[i]}",
                         field="GT", hint="GT must be allele indices such as 0/1 or 1|0")
    gt[~gt_first] = -1  # no GT field: every call missing
    # CHROM: one string per run of equal names; REF/ALT: single bases by byte, others as
    # strings; ID only when rsIDs are wanted
    run = _kernels().chrom_runs(buf, starts, tabs[:, 0])
    heads = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    names = np.array([data[int(starts[i]):int(tabs[i, 0])].decode("utf-8", "replace")
                      for i in heads.tolist()], dtype=object)
    ref = _allele_codes(buf, tabs[:, 2] + 1, tabs[:, 3])
    alt = _allele_codes(buf, tabs[:, 3] + 1, tabs[:, 4])
    ids = (np.array(_gather(buf, tabs[:, 1] + 1, tabs[:, 2] + 1).tobytes()
                    .decode("utf-8", "replace").split("\t")[:-1], dtype=object)
           if acc.want_ids else np.full(m, ".", dtype=object))
    acc.fields.append((Coded(run, names), ids, ref, alt))
    multi = np.array(["," in t for t in alt.table], dtype=bool)[alt.codes]
    if acc.dosage:
        fmts = _gather(buf, fmt_start, fmt_end + 1).tobytes().decode("utf-8", "replace")
        for i, fmt_text in enumerate(fmts.split("\t")[:-1]):
            if "DS" in fmt_text and not multi[i]:
                fmt = fmt_text.split(":")
                if "DS" in fmt:
                    vals = _ds(data, int(fmt_end[i]) + 1, int(ends[i]), n, fmt.index("DS"),
                               len(fmt))
                    acc.ds_rows.append(acc.count + i)
                    acc.ds.append(vals)
    acc.count += m
    acc.pos.append(pos.astype(np.int64))
    acc.line.append(line_no.astype(np.int64))
    acc.gt.append(gt)


def _slow_gt(data: bytes, a: int, b: int, n: int, fmt: list[str], path: Path,
             line: int) -> np.ndarray:
    out = np.full((n, 2), -1, dtype=np.int16)
    if not fmt or fmt[0] != "GT":
        return out.astype(np.int8)  # no GT: every call missing
    for j, cell in enumerate(data[a:b].split(b"\t")):
        call = cell.split(b":", 1)[0].decode()
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
        for cell in text.split(b"\t"):
            sub = cell.split(b":")
            vals.append(sub[at] if at < len(sub) else b".")
    out = np.full(n, np.nan)
    for j, v in enumerate(vals):
        if v and v != b".":
            try:
                out[j] = float(v)
            except ValueError:
                out[j] = np.nan
    return out
