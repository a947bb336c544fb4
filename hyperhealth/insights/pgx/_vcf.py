"""Read the genotypes at allele-defining positions from a GRCh38 VCF (plain, gzip or bgzip).

Only the positions the allele definitions use are kept. The reader

* accepts ``chr``-prefixed and bare chromosome names;
* refuses GRCh37 input (from the header, or from REF alleles that disagree with GRCh38);
* splits multi-allelic records and normalises each ALT against the definition: common prefix and
  suffix are trimmed, indels are moved left as far as the reference bases carried by the record
  and the definition allow, and multi-base substitutions are read base by base, so an indel written
  with other padding (``CATAT>CAT`` for ``CAT>C``) still matches;
* expands gVCF reference blocks (``<NON_REF>``/``<*>`` with ``END=``): a hom-ref block covering a
  position is a reference call, and nothing else is — an absent position is a no-call;
* keeps phase (``|``) and phase sets (``PS``); ``|`` without ``PS`` is one set per sample;
* discards a heterozygous GT whose allele depths (``AD``) show one allele only, and records why.

Alleles that the definition does not list at a position are kept as they are (``undocumented``);
the matcher decides what to do with them.

>>> trim(100, "CATAT", "CAT")
(101, 'AT', '')
>>> trim(100, "A", "G")
(100, 'A', 'G')
"""

from __future__ import annotations

import bisect
import gzip
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hyperhealth.errors import InputError
from hyperhealth.insights.pgx._tables import GeneDefinition, Position

#: the chromosome name of the mitochondrial genome in any spelling, without "chr"
_MT = {"M", "MT"}
_GT_SPLIT = re.compile(r"[/|]")
_BASES = re.compile(r"^[ACGTacgt]+$")
#: genotype values that mean "no call"
_NOCALL = re.compile(r"^[./|]+$")


_BARE: dict[str, str] = {}


def bare(chrom: str) -> str:
    """Chromosome name without ``chr`` (``chrX`` -> ``X``, ``chrM`` -> ``MT``)."""
    got = _BARE.get(chrom)
    if got is None:
        c = chrom[3:] if chrom[:3].lower() == "chr" else chrom
        c = c.upper() if c.lower() in ("x", "y", "m", "mt") else c
        got = "MT" if c in _MT else c
        if len(_BARE) < 10_000:
            _BARE[chrom] = got
    return got


def trim(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    """A parsimonious edit ``(start, deleted, inserted)``: common suffix, then prefix removed."""
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    i = 0
    n = min(len(ref), len(alt))
    while i < n and ref[i] == alt[i]:
        i += 1
    return pos + i, ref[i:], alt[i:]


def left_align(edit: tuple[int, str, str], known: Mapping[int, str]) -> tuple[int, str, str]:
    """Move an insertion or deletion left while the reference bases in ``known`` allow it."""
    start, d, i = edit
    if d and i:
        return edit
    seq = d or i
    if not seq:
        return edit
    while True:
        before = known.get(start - 1)
        if before is None or before != seq[-1]:
            break
        seq = seq[-1] + seq[:-1]
        start -= 1
    return (start, seq, "") if d else (start, "", seq)


@dataclass(frozen=True, slots=True)
class Site:
    """A position the matcher needs, with the gene it belongs to."""

    gene: str
    chrom: str  # bare name
    position: Position

    @property
    def pos(self) -> int:
        return self.position.pos

    @property
    def end(self) -> int:
        """Last reference base covered by the definition's REF."""
        return self.position.pos + len(self.position.ref) - 1

    @property
    def indel(self) -> bool:
        p = self.position
        return len(p.ref) != 1 or any(len(a) != 1 for a in p.alts)


@dataclass(frozen=True, slots=True)
class SiteCall:
    """The sample's alleles at one definition position, in the definition's VCF spelling.

    ``alleles`` has one entry per chromosome copy (two for diploid, one for haploid calls);
    ``None`` is a missing allele (``./1``). ``phase_set`` is ``None`` when unphased, else the PS
    value (0 for ``|`` without PS). ``undocumented`` lists alleles the definition does not know.
    """

    alleles: tuple[str | None, ...]
    phased: bool
    phase_set: int | None
    line: int
    from_block: bool = False
    undocumented: tuple[str, ...] = ()

    @property
    def homozygous(self) -> bool:
        return len(set(self.alleles)) == 1

    @property
    def text(self) -> str:
        sep = "|" if self.phased else "/"
        return sep.join("." if a is None else a for a in self.alleles)


@dataclass(slots=True)
class VcfCalls:
    """What the reader found: per sample, per (chromosome, position) of interest, one call."""

    path: str
    samples: tuple[str, ...]
    build: str
    build_evidence: str
    chr_prefix: bool
    calls: dict[str, dict[tuple[str, int], SiteCall]]
    warnings: dict[tuple[str, int] | str, list[str]] = field(default_factory=dict)
    lines: int = 0
    exact_lines: dict[tuple[str, int], set[int]] = field(default_factory=dict, repr=False)
    all_samples: tuple[str, ...] = ()

    def warn(self, key: tuple[str, int] | str, message: str) -> None:
        bucket = self.warnings.setdefault(key, [])
        if message not in bucket:
            bucket.append(message)


class SiteIndex:
    """Every definition (and extra) position of the given genes, searchable by overlap."""

    def __init__(self, definitions: Iterable[GeneDefinition]) -> None:
        self.sites: dict[tuple[str, int], Site] = {}
        by_chrom: dict[str, list[Site]] = defaultdict(list)
        for d in definitions:
            chrom = bare(d.chromosome)
            for p in (*d.positions, *d.extra_positions):
                key = (chrom, p.pos)
                if key in self.sites:
                    continue
                s = Site(d.gene, chrom, p)
                self.sites[key] = s
                by_chrom[chrom].append(s)
        self.starts: dict[str, list[int]] = {}
        self.by_start: dict[str, list[Site]] = {}
        self.span: dict[str, int] = {}
        for chrom, sites in by_chrom.items():
            sites.sort(key=lambda s: s.pos)
            self.by_start[chrom] = sites
            self.starts[chrom] = [s.pos for s in sites]
            self.span[chrom] = max(len(s.position.ref) for s in sites)
        # indel sites by every base they cover after their first: a SNV record there touches them
        self.covering: dict[tuple[str, int], list[Site]] = defaultdict(list)
        for s in self.sites.values():
            for q in range(s.pos + 1, s.end + 1):
                self.covering[(s.chrom, q)].append(s)
        self.first = {c: s[0] for c, s in self.starts.items()}
        self.last = {c: max(x.end for x in self.by_start[c]) for c in self.starts}

    def overlapping(self, chrom: str, start: int, end: int) -> list[Site]:
        """Sites whose REF span intersects ``[start, end]`` (1-based, inclusive)."""
        starts = self.starts.get(chrom)
        if starts is None:
            return []
        i = bisect.bisect_left(starts, start - self.span[chrom] + 1)
        out = []
        sites = self.by_start[chrom]
        while i < len(starts) and starts[i] <= end:
            s = sites[i]
            if s.end >= start:
                out.append(s)
            i += 1
        return out


# --- reading ------------------------------------------------------------------------------------
#: files up to this size (compressed) are read into memory and searched by bisection; larger files
#: are streamed line by line
IN_MEMORY_MAX = 512 * 1024 * 1024
#: sites closer than this are read as one region
_CLUSTER_GAP = 20_000


class _Unsorted(Exception):
    """The file is not sorted by position within a chromosome: read every line instead."""


def _decompress(data: bytes) -> bytes:
    try:
        from isal import igzip  # ISA-L: about 6x faster than zlib on this data

        return bytes(igzip.decompress(data))
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        return gzip.decompress(data)


def _load_text(path: Path) -> str:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = _decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as err:
            raise InputError(f"the gzip stream is damaged ({err})", where=str(path),
                             hint="re-create the file with bgzip or gzip") from None
    return data.decode("utf-8", errors="replace")


def _stream_lines(path: Path) -> Iterator[str]:
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        with gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n") as f:
            yield from f
    else:
        with open(path, encoding="utf-8", errors="replace", newline="\n") as f:
            yield from f


def _info_end(info: str) -> int | None:
    i = info.find("END=")
    while i >= 0:
        if i == 0 or info[i - 1] == ";":
            j = info.find(";", i)
            value = info[i + 4:] if j < 0 else info[i + 4:j]
            try:
                return int(value)
            except ValueError:
                return None
        i = info.find("END=", i + 1)
    return None


class _Reader:
    """Parses header and records into a :class:`VcfCalls`."""

    def __init__(self, path: str, index: SiteIndex, samples: Sequence[str] | None) -> None:
        self.path = path
        self.index = index
        self.want = samples
        self.header: list[str] = []
        self.out: VcfCalls | None = None
        self.pick: list[int] = []

    def header_line(self, line: str, lineno: int) -> None:
        if line.startswith("##"):
            self.header.append(line)
            return
        where = self.path
        if not self.header or not self.header[0].startswith("##fileformat=VCF"):
            raise InputError("the first line is not '##fileformat=VCFv4.x'",
                             where=f"{where}:1", hint="give a VCF file (.vcf or .vcf.gz)")
        cols = line.split("\t")
        all_samples = tuple(cols[9:])
        if self.want is None:
            chosen = all_samples
        else:
            unknown = [s for s in self.want if s not in all_samples]
            if unknown:
                raise InputError(f"sample {unknown[0]!r} is not in the file",
                                 where=f"{where}:{lineno}", field="sample",
                                 hint="choose one of: " + ", ".join(all_samples[:20]))
            chosen = tuple(self.want)
        self.pick = [all_samples.index(s) for s in chosen]
        build, evidence, prefix = _header_build(self.header)
        if build == "GRCh37":
            raise InputError(f"the file is on GRCh37 ({evidence}); the allele definitions "
                             "are GRCh38", where=f"{where}:1",
                             hint="lift the file over to GRCh38 (e.g. with CrossMap or "
                                  "bcftools +liftover) or call variants against GRCh38")
        self.out = VcfCalls(where, chosen, build, evidence, prefix, {s: {} for s in chosen},
                            all_samples=all_samples)

    def record(self, line: str, lineno: int) -> None:
        if self.out is None:
            raise InputError("the '#CHROM' column header line is missing before the data",
                             where=f"{self.path}:{lineno}", hint="the file is not a valid VCF")
        _record(line, lineno, self.index, self.out, self.pick)

    def done(self, lines: int) -> VcfCalls:
        if self.out is None:
            raise InputError("no '#CHROM' header line: not a VCF file", where=f"{self.path}:1",
                             hint="give a VCF file (.vcf or .vcf.gz)")
        self.out.lines = lines
        _check_reference_build(self.out, self.index)
        return self.out


def read_vcf(path: str | Path, index: SiteIndex, samples: Sequence[str] | None = None,
             *, text: str | None = None) -> VcfCalls:
    """Genotypes at the positions in ``index`` for ``samples`` (default: every sample).

    Files read into memory (all but the very largest) are searched by bisection for the gene
    regions, which assumes the usual sort by position within each chromosome; a file found out of
    order is read line by line instead. ``text`` supplies the (decompressed) VCF text directly.
    Raises :class:`InputError` for a file that is not a VCF, a GRCh37 file, or an unknown sample.
    """
    path = Path(path)
    reader = _Reader(str(path), index, samples)
    if text is None:
        try:
            size = path.stat().st_size
        except OSError as err:
            raise InputError(f"cannot read the file ({err.strerror})", where=str(path),
                             hint="check the path") from None
        if size > IN_MEMORY_MAX:
            n = 0
            for n, raw in enumerate(_stream_lines(path), start=1):
                line = raw.rstrip("\r\n")
                if line.startswith("#"):
                    reader.header_line(line, n)
                elif line:
                    reader.record(line, n)
            return reader.done(n)
        text = _load_text(path)
    return _read_text(text, reader)


def _read_text(text: str, reader: _Reader) -> VcfCalls:
    # header
    pos = 0
    lineno = 0
    n = len(text)
    while pos < n and text.startswith("#", pos):
        j = text.find("\n", pos)
        j = n if j < 0 else j
        lineno += 1
        reader.header_line(text[pos:j].rstrip("\r"), lineno)
        pos = j + 1
        if reader.out is not None:
            break
    if reader.out is None:
        if pos < n:
            reader.record(text[pos:text.find("\n", pos)], lineno + 1)
        return reader.done(lineno)
    data_start = pos
    header_lines = lineno
    try:
        _scan_regions(text, data_start, header_lines, reader)
    except _Unsorted:
        assert reader.out is not None
        reader.out = VcfCalls(reader.out.path, reader.out.samples, reader.out.build,
                              reader.out.build_evidence, reader.out.chr_prefix,
                              {s: {} for s in reader.out.samples},
                              all_samples=reader.out.all_samples)
        reader.out.warn("VCF", "the file is not sorted by position; every line was read")
        for k, line in enumerate(text[data_start:].split("\n"), start=header_lines + 1):
            line = line.rstrip("\r")
            if line and not line.startswith("#"):
                reader.record(line, k)
    return reader.done(header_lines + text.count("\n", data_start))


def _regions(index: SiteIndex) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for chrom, sites in index.by_start.items():
        spans: list[tuple[int, int]] = []
        for s in sites:
            lo, hi = s.pos, s.end
            if spans and lo - spans[-1][1] <= _CLUSTER_GAP:
                spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
            else:
                spans.append((lo, hi))
        out[chrom] = spans
    return out


def _line_pos(text: str, start: int, name: str) -> int:
    """POS of the line starting at ``start``, which must be on chromosome ``name``."""
    tab = start + len(name)
    if not text.startswith(name, start) or text[tab:tab + 1] != "\t":
        raise _Unsorted
    tab2 = text.find("\t", tab + 1)
    try:
        return int(text[tab + 1:tab2])
    except ValueError:
        raise _Unsorted from None


class _LineNumbers:
    """Line numbers of offsets that only move forward (counting newlines incrementally)."""

    def __init__(self, text: str, offset: int, lineno: int) -> None:
        self.text = text
        self.offset = offset
        self.lineno = lineno

    def at(self, offset: int) -> int:
        if offset >= self.offset:
            self.lineno += self.text.count("\n", self.offset, offset)
        else:
            self.lineno -= self.text.count("\n", offset, self.offset)
        self.offset = offset
        return self.lineno


def _chrom_blocks(text: str, data_start: int) -> dict[str, tuple[int, int]]:
    """``name -> (first line offset, end offset)`` for each chromosome, found by bisection.

    Assumes each chromosome's lines are contiguous; a name met twice raises :class:`_Unsorted`.
    """
    n = len(text)
    blocks: dict[str, tuple[int, int]] = {}
    o = data_start
    while o < n:
        tab = text.find("\t", o)
        if tab < 0:
            break
        name = text[o:tab]
        if name in blocks:
            raise _Unsorted
        probe = name + "\t"
        a, b = o, n
        while a < b:
            mid = (a + b) // 2
            st = max(text.rfind("\n", 0, mid) + 1, o)
            if text.startswith(probe, st):
                nl = text.find("\n", st)
                a = n if nl < 0 else nl + 1
            else:
                b = st
        blocks[name] = (o, a)
        # skip blank lines between blocks
        while a < n and text[a] in "\r\n":
            a += 1
        o = a
    return blocks


def _scan_regions(text: str, data_start: int, header_lines: int, reader: _Reader) -> None:
    index = reader.index
    blocks = _chrom_blocks(text, data_start)
    todo: list[tuple[int, int, str, list[tuple[int, int]]]] = []
    for chrom, spans in _regions(index).items():
        names = ["chrM", "MT", "chrMT", "M"] if chrom == "MT" else [f"chr{chrom}", chrom]
        for name in names:
            if name in blocks:
                first, block_end = blocks[name]
                todo.append((first, block_end, name, spans))
                break
    todo.sort()
    numbers = _LineNumbers(text, data_start, header_lines + 1)
    for first, block_end, name, spans in todo:
        done = first  # lines before this offset were read already
        for lo, hi in spans:
            a, b = done, block_end
            while a < b:
                mid = (a + b) // 2
                st = max(text.rfind("\n", 0, mid) + 1, done)
                if _line_pos(text, st, name) < lo:
                    nl = text.find("\n", st)
                    a = block_end if nl < 0 else nl + 1
                else:
                    b = st
            # a preceding record (a gVCF block or a deletion) may reach into the region
            start = a
            for _ in range(2):
                if start > done:
                    start = max(text.rfind("\n", 0, start - 1) + 1, done)
            prev = -1
            i = start
            while i < block_end:
                j = text.find("\n", i)
                j = len(text) if j < 0 else j
                p = _line_pos(text, i, name)
                if p < prev:
                    raise _Unsorted
                if p > hi:
                    break
                prev = p
                reader.record(text[i:j].rstrip("\r"), numbers.at(i))
                i = j + 1
            done = max(done, i)


_ATTR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,]*)')


_PRIMARY = {str(i) for i in range(1, 23)} | {"X", "Y"}


def _header_build(header: list[str]) -> tuple[str, str, bool]:
    """Genome build from ``##contig`` lengths, else from assembly names (as the ingest does)."""
    from hyperhealth.ingest.vcf import build_from_lengths, build_from_text

    lengths: dict[str, int] = {}
    names: list[str] = []
    texts: list[str] = []
    for line in header:
        if line.startswith("##contig=<"):
            comma = line.find(",", 10)
            cid = line[13:comma if comma > 0 else -1] if line.startswith("##contig=<ID=") else ""
            names.append(cid)
            if bare(cid) not in _PRIMARY and "assembly=" not in line:
                continue
            a = {k: v.strip('"') for k, v in _ATTR.findall(line[10:].rstrip(">"))}
            if "ID" in a and a.get("length", "").isdigit() and bare(a["ID"]) in _PRIMARY:
                lengths[a["ID"]] = int(a["length"])
            if a.get("assembly"):
                texts.append(a["assembly"])
        elif line.startswith(("##reference=", "##assembly=")):
            texts.append(line.split("=", 1)[1])
    prefix = bool(names) and all(n.lower().startswith("chr") for n in names if n)
    got = build_from_lengths(lengths)
    if got is not None:
        return got[0], f"{got[1]} ##contig length(s) match {got[0]}", prefix
    found = {b for t in dict.fromkeys(texts) if (b := build_from_text(t))}
    if len(found) == 1:
        b = found.pop()
        return b, f"assembly named {b} in the header", prefix
    if found:
        return "unknown", "header names conflicting builds: " + ", ".join(sorted(found)), prefix
    return "unknown", "no contig lengths or assembly names recognised", prefix


def _check_reference_build(out: VcfCalls, index: SiteIndex) -> None:
    """Refuse a file whose REF alleles disagree with GRCh38 at most definition positions."""
    mism = sum(1 for k, msgs in out.warnings.items() if isinstance(k, tuple)
               and any(m.startswith("REF ") for m in msgs))
    seen = mism + sum(1 for calls in out.calls.values() for c in calls.values()
                      if not c.from_block) // max(1, len(out.calls))
    if out.build != "GRCh38" and mism >= 5 and mism > 0.5 * max(1, seen):
        raise InputError(f"REF alleles differ from GRCh38 at {mism} of {seen} allele-defining "
                         "positions read; the file looks like another genome build",
                         where=out.path, hint="lift the file over to GRCh38 or call variants "
                                              "against GRCh38")


def _record(raw: str, lineno: int, index: SiteIndex, out: VcfCalls, pick: list[int]) -> None:
    tab = raw.find("\t")
    chrom = bare(raw[:tab])
    first = index.first.get(chrom)
    if first is None:
        return
    tab2 = raw.find("\t", tab + 1)
    try:
        pos = int(raw[tab + 1:tab2])
    except ValueError:
        raise InputError(f"POS {raw[tab + 1:tab2]!r} is not a number",
                         where=f"{out.path}:{lineno}", field="POS",
                         hint="the VCF body is malformed") from None
    if pos > index.last[chrom]:
        return
    f = raw.rstrip("\r\n").split("\t", 9)
    if len(f) < 8:
        raise InputError(f"{len(f)} columns, VCF needs at least 8", where=f"{out.path}:{lineno}",
                         hint="the line is truncated or not tab-separated")
    ref = f[3].upper()
    alts_all = f[4].split(",") if f[4] not in (".", "") else []
    concrete = [a for a in alts_all if not a.startswith("<") and a != "*"]
    end = pos + len(ref) - 1
    block = not concrete
    if block:
        e = _info_end(f[7])
        if e is not None:
            end = e
    if end < first:
        return
    if not block and len(ref) == 1:
        exact_site = index.sites.get((chrom, pos))
        cover = index.covering.get((chrom, pos))
        sites = ([exact_site] if exact_site is not None else []) + (cover or [])
    else:
        sites = index.overlapping(chrom, pos, end)
    if not sites or len(f) < 10 or not pick:
        return
    fmt = f[8].split(":")
    samples = f[9].split("\t")
    gi = fmt.index("GT") if "GT" in fmt else -1
    psi = fmt.index("PS") if "PS" in fmt else -1
    adi = fmt.index("AD") if "AD" in fmt else -1
    if block:
        for s in sites:
            if s.pos < pos or s.pos > end:
                continue
            key = (chrom, s.pos)
            for si, name in zip(pick, out.samples, strict=True):
                if key in out.calls[name]:
                    continue
                call = _block_call(samples[si].split(":"), gi, s, lineno)
                if call is not None:
                    out.calls[name][key] = call
        return
    upper = [a.upper() for a in alts_all]
    for s in sites:
        key = (chrom, s.pos)
        mapping = _allele_map(pos, ref, upper, s, out, key)
        if mapping is None:
            continue
        alleles_at_site, undocumented = mapping
        exact = pos == s.pos
        if not exact and all(a == s.position.ref for a in alleles_at_site[1:]):
            continue  # a record at another position that does not change this one
        for si, name in zip(pick, out.samples, strict=True):
            call = _sample_call(samples[si].split(":"), gi, psi, adi, alleles_at_site,
                                undocumented, lineno, out, key)
            if call is None:
                continue
            if not exact and all(a == s.position.ref for a in call.alleles):
                continue
            prev = out.calls[name].get(key)
            if prev is not None and not prev.from_block:
                prev_exact = prev.line in out.exact_lines.get(key, ())
                if exact and not prev_exact:
                    out.warn(key, f"line {prev.line} (another position) and line {lineno} both "
                                  f"call this position; line {lineno} (this position) is used")
                else:
                    out.warn(key, f"more than one record calls this position (lines "
                                  f"{prev.line} and {lineno}); the first is used")
                    continue
            out.calls[name][key] = call
            if exact:
                out.exact_lines.setdefault(key, set()).add(lineno)


def _block_call(fields: list[str], gi: int, site: Site, lineno: int) -> SiteCall | None:
    if gi < 0 or gi >= len(fields):
        return None
    gt = fields[gi]
    if _NOCALL.match(gt):
        return None
    parts = _GT_SPLIT.split(gt)
    if any(p != "0" for p in parts):
        return None  # a block is a reference call or nothing
    ref = site.position.ref
    return SiteCall(tuple(ref for _ in parts), "|" in gt, None, lineno, from_block=True)


def _allele_map(pos: int, ref: str, alts: list[str], site: Site, out: VcfCalls,
                key: tuple[str, int]) -> tuple[list[str | None], list[str]] | None:
    """The site allele each GT index stands for (index 0 = REF), or None to skip the record."""
    p = site.position
    if pos == p.pos and len(ref) == 1 and not site.indel and all(len(a) == 1 for a in alts):
        # the common case: a SNV record at a SNV position
        if ref != p.ref:
            out.warn(key, f"REF {ref} at {pos} disagrees with the GRCh38 definition REF {p.ref}; "
                          "the record is not used")
            return None
        snv: list[str | None] = [p.ref]
        und = []
        for a in alts:
            if a in "ACGT" and a:
                snv.append(a)
                if a != p.ref and a not in p.alts:
                    und.append(a)
            else:
                snv.append(None)
        return snv, und
    # the reference bases both the record and the definition vouch for
    known: dict[int, str] = {}
    for i, b in enumerate(p.ref):
        known[p.pos + i] = b
    for i, b in enumerate(ref):
        q = pos + i
        if q in known and known[q] != b:
            out.warn(key, f"REF {ref} at {pos} disagrees with the GRCh38 definition REF {p.ref} "
                          f"at {p.pos}; the record is not used")
            return None
        known[q] = b
    if not _BASES.match(ref):
        out.warn(key, f"REF {ref!r} has bases other than A/C/G/T; the record is not used")
        return None
    site_edits = {}
    for a in (p.ref, *p.alts):
        e = trim(p.pos, p.ref, a)
        if e[1] or e[2]:
            site_edits[left_align(e, known)] = a
    mapping: list[str | None] = [p.ref]
    undocumented: list[str] = []
    for alt in alts:
        if alt.startswith("<") or alt == "*" or not _BASES.match(alt):
            mapping.append(None)
            continue
        e = left_align(trim(pos, ref, alt), known)
        start, d, ins = e
        if not d and not ins:
            mapping.append(p.ref)
            continue
        got = site_edits.get(e)
        if got is not None:
            mapping.append(got)
            continue
        if d and ins and len(d) == len(ins) and not site.indel:
            # substitution of one or more bases read base by base
            if start <= p.pos < start + len(d):
                base = ins[p.pos - start]
                mapping.append(p.ref if base == p.ref else base)
                if base != p.ref and base not in p.alts:
                    undocumented.append(base)
            else:
                mapping.append(p.ref)
            continue
        touches = (start <= site.end and start + len(d) - 1 >= p.pos) if d else \
            (site.indel and p.pos < start <= site.end + 1)
        if touches:
            observed = _realise(p, e)
            mapping.append(observed)
            undocumented.append(observed)
        else:
            mapping.append(p.ref)
    return mapping, undocumented


def _realise(p: Position, edit: tuple[int, str, str]) -> str:
    """The sequence of the definition's REF span after ``edit`` (for messages)."""
    start, d, ins = edit
    off = start - p.pos
    if 0 <= off <= len(p.ref):
        return p.ref[:off] + ins + p.ref[off + len(d):] or "-"
    return f"{start}:{d or '-'}>{ins or '-'}"


_NOT_GT: tuple[int | None, ...] = (-1,)
_GT_CACHE: dict[str, tuple[int | None, ...]] = {}


def _parse_gt(gt: str) -> tuple[int | None, ...]:
    """Allele indices of a GT value; ``()`` for a no-call, ``_NOT_GT`` if unreadable."""
    if not gt or _NOCALL.match(gt):
        return ()
    out: list[int | None] = []
    for x in _GT_SPLIT.split(gt):
        if x == ".":
            out.append(None)
            continue
        try:
            out.append(int(x))
        except ValueError:
            return _NOT_GT
    return tuple(out)


def _sample_call(fields: list[str], gi: int, psi: int, adi: int,
                 mapping: list[str | None], undocumented: list[str], lineno: int,
                 out: VcfCalls, key: tuple[str, int]) -> SiteCall | None:
    if gi < 0 or gi >= len(fields):
        return None
    gt = fields[gi]
    parsed = _GT_CACHE.get(gt)
    if parsed is None:
        parsed = _parse_gt(gt)
        if len(_GT_CACHE) < 1000:
            _GT_CACHE[gt] = parsed
    if parsed is _NOT_GT:
        out.warn(key, f"GT {gt!r} is not a genotype; the position is treated as missing")
        return None
    if not parsed:
        return None
    if len(parsed) > 2:
        out.warn(key, f"{len(parsed)} alleles in GT {gt}; the first two are used")
    idx: list[int | None] = list(parsed[:2])
    for n in idx:
        if n is not None and n >= len(mapping):
            raise InputError(f"GT {gt} refers to allele {n} but the record has "
                             f"{len(mapping) - 1} ALT allele(s)",
                             where=f"{out.path}:{lineno}", field="GT",
                             hint="the VCF record is malformed")
    if len(idx) == 2 and None in idx:
        other = idx[0] if idx[1] is None else idx[1]
        if other == 0:
            out.warn(key, f"half call {gt}: only a reference allele; treated as missing")
            return None
    if adi >= 0 and adi < len(fields) and len({i for i in idx if i is not None}) > 1:
        depths = fields[adi].split(",")
        try:
            nz = [int(d) for d in depths if d != "."]
        except ValueError:
            nz = []
        if nz and sum(1 for d in nz if d > 0) == 1:
            out.warn(key, f"GT {gt} is heterozygous but AD {fields[adi]} shows one allele; the "
                          "position is treated as missing")
            return None
    alleles: list[str | None] = []
    for i in idx:
        if i is None:
            alleles.append(None)
            continue
        a = mapping[i]
        if a is None:
            out.warn(key, f"GT {gt} calls a symbolic or unreadable ALT; treated as missing")
            return None
        alleles.append(a)
    phased = "|" in gt and len(idx) == 2
    ps: int | None = None
    if phased:
        ps = 0
        if psi >= 0 and psi < len(fields) and fields[psi] not in (".", ""):
            try:
                ps = int(fields[psi])
            except ValueError:
                ps = 0
    und = tuple(a for a in dict.fromkeys(undocumented) if a in alleles) if undocumented else ()
    return SiteCall(tuple(alleles), phased, ps, lineno, undocumented=und)
