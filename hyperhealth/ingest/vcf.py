"""Register VCF uploads (``.vcf``, ``.vcf.gz``): which samples, which genome build.

Registration reads the header with cyvcf2 (htslib) and checks the first records parse; it does
not call genotypes. The genome build comes from, in order of trust:

1. ``##contig`` lengths of the primary chromosomes, compared with the GRC assembly reports
   (GRCh38: GCF_000001405.26, chr1 = 248,956,422 bp; GRCh37: GCF_000001405.13, chr1 =
   249,250,621 bp);
2. assembly names in ``##reference``, ``##assembly`` or a contig's ``assembly=`` attribute
   (``GRCh38``, ``hg38``, ``GRCh37``, ``hg19``, ``b37``, ``hs37d5`` ...);
3. otherwise ``unknown``.

When lengths and names disagree the lengths win and the report carries a warning.
Each sample becomes the person ``ctx.person("vcf", sample)`` unless ``--person`` is given.

>>> build_from_lengths({"chr1": 248956422, "chr2": 242193529})
('GRCh38', 2)
>>> build_from_text("file:///ref/human_g1k_v37.fasta")
'GRCh37'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hyperhealth.errors import InputError
from hyperhealth.ingest._base import IngestContext, Record, open_text
from hyperhealth.ingest._driver import sha256_file
from hyperhealth.model import GenotypeUpload

SOURCE = "vcf"
#: records parsed after the header to check the body is VCF too (not a genotype read)
CHECK_RECORDS = 1000

# Primary-assembly sequence lengths (bp) from the GRC assembly reports.
_LENGTHS: dict[str, dict[str, int]] = {
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
        "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
        "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
        "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
        "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415,
    },
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
        "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
        "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
        "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
        "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566,
    },
}
# Names seen in ##reference / ##assembly / contig assembly= for each build (matched as words).
_NAMES: dict[str, tuple[str, ...]] = {
    "GRCh38": ("grch38", "hg38", "hs38", "hs38dh", "assembly38", "b38", "ncbi38"),
    "GRCh37": ("grch37", "hg19", "hs37d5", "b37", "g1k_v37", "assembly19", "ncbi37", "v37"),
}
_CONTIG = re.compile(r"^##contig=<(.*)>\s*$")
_ATTR = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|[^,]*)')


@dataclass(frozen=True, slots=True)
class VcfHeader:
    """What registration learns from a VCF header."""

    samples: tuple[str, ...]
    contigs: tuple[str, ...]
    build: str
    build_evidence: str
    chr_prefix: bool
    header_lines: int


def _bare(contig: str) -> str:
    c = contig[3:] if contig.lower().startswith("chr") else contig
    return "X" if c.upper() == "X" else "Y" if c.upper() == "Y" else c


def build_from_lengths(lengths: Mapping[str, int]) -> tuple[str, int] | None:
    """``(build, contigs that matched)`` from contig lengths; ``None`` if none or mixed."""
    votes: Counter[str] = Counter()
    for name, n in lengths.items():
        for build, table in _LENGTHS.items():
            if table.get(_bare(name)) == n:
                votes[build] += 1
    if len(votes) != 1:
        return None
    build, count = votes.most_common(1)[0]
    return build, count


def build_from_text(text: str) -> str | None:
    """The build named in a ``##reference``/``##assembly`` value, else ``None``."""
    words = set(re.split(r"[^a-z0-9]+", text.lower()))
    low = text.lower()
    found = {b for b, names in _NAMES.items()
             if any(n in words or (len(n) > 4 and n in low) for n in names)}
    return found.pop() if len(found) == 1 else None


def _attrs(body: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in _ATTR.findall(body)}


def read_header(path: Path) -> VcfHeader:
    """Parse and check a VCF header (and the first records); a bad file raises InputError."""
    from cyvcf2 import VCF  # imported here: registration is the only user and it is heavy

    try:
        vcf = VCF(str(path), lazy=True)
    except (OSError, ValueError) as err:
        raise InputError(f"not a readable VCF ({err})", where=f"{path}:1",
                         hint="upload a VCF 4.x file (.vcf or bgzip/gzip .vcf.gz)") from None
    try:
        raw = vcf.raw_header
        lines = raw.splitlines()
        if not lines or not lines[0].startswith("##fileformat=VCF"):
            raise InputError("the first line is not '##fileformat=VCFv4.x'", where=f"{path}:1",
                             hint="upload a VCF file; this looks like another format")
        if not lines[-1].startswith("#CHROM"):
            raise InputError("the '#CHROM' column header line is missing",
                             where=f"{path}:{len(lines)}", hint="the file is not a valid VCF")
        samples = tuple(vcf.samples)
        contigs, lengths, texts = [], {}, []
        for line in lines:
            m = _CONTIG.match(line)
            if m:
                a = _attrs(m.group(1))
                if "ID" in a:
                    contigs.append(a["ID"])
                    if a.get("length", "").isdigit():
                        lengths[a["ID"]] = int(a["length"])
                if a.get("assembly"):
                    texts.append(("contig assembly", a["assembly"]))
            elif line.startswith(("##reference=", "##assembly=")):
                key, _, value = line[2:].partition("=")
                texts.append((key, value))
        header_lines = _file_header_lines(path)
        seen = _check_records(vcf, path, header_lines)
    finally:
        vcf.close()
    build, evidence = _build(lengths, texts)
    if not contigs:  # no ##contig lines: take the names from the records checked
        contigs = seen
    prefix = bool(contigs) and all(c.lower().startswith("chr") for c in contigs)
    return VcfHeader(samples, tuple(contigs), build, evidence, prefix, header_lines)


def _file_header_lines(path: Path) -> int:
    """Header lines as in the file (htslib's own header text may add lines, e.g. PASS)."""
    n = 0
    with open_text(path) as f:
        for line in f:
            if not line.startswith("#"):
                break
            n += 1
    return n


def _check_records(vcf: Any, path: Path, header_lines: int) -> list[str]:
    """Parse the first records; returns the chromosome names they use, in order."""
    n = 0
    chroms: dict[str, None] = {}
    try:
        for n, rec in enumerate(vcf, start=1):
            chroms.setdefault(rec.CHROM)
            if n >= CHECK_RECORDS:
                break
    except Exception as err:  # htslib reports a bad record as a bare Exception
        raise InputError(f"record {n + 1} cannot be parsed ({err})",
                         where=f"{path}:{header_lines + n + 1}",
                         hint="the VCF body is malformed; re-export it from the caller") from None
    return list(chroms)


def _build(lengths: Mapping[str, int], texts: list[tuple[str, str]]) -> tuple[str, str]:
    by_len = build_from_lengths(lengths)
    named = {b for _, t in texts if (b := build_from_text(t))}
    if by_len is not None:
        build, count = by_len
        ev = f"{count} ##contig length(s) match {build}"
        if named - {build}:
            ev += f"; header names {', '.join(sorted(named))} disagree (lengths win)"
        return build, ev
    if len(named) == 1:
        build = named.pop()
        key = next(k for k, t in texts if build_from_text(t) == build)
        return build, f"named in {key}"
    if named:
        return "unknown", f"header names conflicting builds: {', '.join(sorted(named))}"
    return "unknown", "no contig lengths or assembly names recognised"


class VcfAdapter:
    name: ClassVar[str] = "vcf"

    def sniff(self, path: Path, head: str) -> bool:
        n = path.name.lower()
        return head.startswith("##fileformat=VCF") or n.endswith((".vcf", ".vcf.gz", ".vcf.bgz"))

    def read(self, path: Path, ctx: IngestContext) -> Iterator[Record]:
        h = read_header(path)
        if h.build == "unknown" or "disagree" in h.build_evidence:
            ctx.report.warnings.append(f"{path}: genome build {h.build}: {h.build_evidence}")
        digest = sha256_file(path)
        path_text = str(path.resolve())
        if ctx.options.person:
            pid = ctx.person(SOURCE, h.samples[0] if h.samples else digest)
            yield GenotypeUpload(pid, path_text, digest, h.samples, h.build, h.chr_prefix,
                                 len(h.contigs))
            return
        if not h.samples:
            ctx.report.warnings.append(f"{path}: no sample columns; registered without a person")
            yield GenotypeUpload(None, path_text, digest, h.samples, h.build, h.chr_prefix,
                                 len(h.contigs))
            return
        for sample in h.samples:
            pid = ctx.person(SOURCE, sample)
            yield GenotypeUpload(pid, path_text, digest, h.samples, h.build, h.chr_prefix,
                                 len(h.contigs))


ADAPTER = VcfAdapter()
