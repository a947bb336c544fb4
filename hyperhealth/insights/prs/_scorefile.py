"""Read PGS Catalog scoring files (format 2.0, original or harmonised; plain or gzip).

A scoring file is a block of ``#key=value`` header lines followed by a tab-separated table with
one row per variant: the variant (``rsID`` and/or ``chr_name``/``chr_position``; harmonised
files add ``hm_rsID``, ``hm_chr``, ``hm_pos`` on the build named by ``#HmPOS_build``), the
``effect_allele``, usually the ``other_allele`` (harmonised files may infer it in
``hm_inferOtherAllele``) and the additive ``effect_weight`` (Lambert SA et al., The Polygenic
Score Catalog as an open database for reproducibility and systematic evaluation, Nat Genet
2021;53:420-425, doi:10.1038/s41588-021-00783-5).

Positions come from the harmonised columns when present (rows the harmonisation could not place
keep only their rsID) and from ``chr_name``/``chr_position`` otherwise. Rows that are not a single
additive allele (haplotypes, diplotypes, interactions, dominant/recessive or per-dosage weights,
HLA-style alleles) cannot be scored by summing dosage x weight; they are kept, marked
``scorable=False`` with the reason, and reported, never silently dropped.

>>> import io
>>> text = ("#pgs_id=PGS_TEST\\n#HmPOS_build=GRCh38\\n"
...         "rsID\\teffect_allele\\tother_allele\\teffect_weight\\thm_chr\\thm_pos\\n"
...         "rs1\\tA\\tG\\t0.5\\t1\\t100\\n")
>>> sf = parse_scoring_file(io.StringIO(text), name="test")
>>> sf.pgs_id, sf.build, sf.row(0).chrom, sf.row(0).pos, sf.row(0).weight
('PGS_TEST', 'GRCh38', '1', 100, 0.5)
"""

from __future__ import annotations

import gc
import gzip
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from hyperhealth.errors import InputError

#: columns whose "True" makes a row non-additive
_FLAG_COLUMNS = ("is_haplotype", "is_diplotype", "is_interaction", "is_dominant", "is_recessive")
_DOSAGE_COLUMNS = ("dosage_0_weight", "dosage_1_weight", "dosage_2_weight")
#: the columns read (the others, e.g. locus_name or hm_source, are not needed to score)
_USED = frozenset(("rsID", "hm_rsID", "chr_name", "chr_position", "hm_chr", "hm_pos",
                   "effect_allele", "other_allele", "hm_inferOtherAllele", "effect_weight",
                   *_FLAG_COLUMNS, *_DOSAGE_COLUMNS))
_ALLELE = re.compile(r"^[ACGT]+$")
_BUILDS = {"grch38": "GRCh38", "hg38": "GRCh38", "grch37": "GRCh37", "hg19": "GRCh37",
           "ncbi36": "NCBI36", "hg18": "NCBI36"}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One row of a scoring file, after choosing harmonised or original coordinates.

    ``chrom`` has no ``chr`` prefix (``"1"``, ``"X"``); ``pos`` is 1-based; ``other`` is ``""``
    when the file gives no single other allele. ``line`` is the 1-based line in the file.
    """

    line: int
    rsid: str
    chrom: str
    pos: int | None
    effect: str
    other: str
    weight: float
    scorable: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Coded:
    """A column of repeated strings as codes into a table (``table[codes]`` is the column)."""

    codes: np.ndarray  # int64, every code indexes table
    table: np.ndarray  # str objects (may repeat)

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.table[self.codes])

    @staticmethod
    def of(values: Any) -> Coded:
        codes, uniq = pd.factorize(values)
        table = np.array([*(str(u) for u in uniq), ""], dtype=object)
        return Coded(np.where(codes < 0, len(table) - 1, codes).astype(np.int64), table)


@dataclass(frozen=True, slots=True, eq=False)
class ScoringFile:
    """A parsed scoring file: header metadata, the build of its positions, and its rows.

    Rows are held column by column (numpy arrays, one entry per row, in file order) because
    scores can have millions of rows; :meth:`row` and :attr:`rows` give :class:`ScoreRow`
    objects. ``pos`` is -1 and ``chrom`` empty where a row has no position; ``reason`` is empty
    for scorable rows.
    """

    name: str
    meta: Mapping[str, str]
    build: str  # build of the positions used: GRCh38, GRCh37, NCBI36 or unknown
    harmonised: bool
    columns: tuple[str, ...]
    line: np.ndarray  # int64, 1-based line in the file
    pos: np.ndarray  # int64
    weight: np.ndarray  # float64
    reason: np.ndarray  # str objects, "" when scorable
    scorable: np.ndarray  # bool, reason == ""
    #: chrom (no "chr" prefix), effect and other allele (upper case, "" when not given) as
    #: integer codes into small tables: what matching works on
    codes: Mapping[str, Coded]
    #: reads the rsID columns (they are read only when needed); values computed on demand
    rsid_reader: Any = None
    lazy: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rsid(self) -> np.ndarray:
        """rsIDs (``hm_rsID`` where given, else ``rsID``; "" when neither)."""
        if "rsid" not in self.lazy:
            self.lazy["rsid"] = (self.rsid_reader() if self.rsid_reader is not None
                                 else np.full(len(self), "", dtype=object))
        return self.lazy["rsid"]

    def _values(self, key: str) -> np.ndarray:
        if key not in self.lazy:
            self.lazy[key] = self.codes[key].values
        return self.lazy[key]

    @property
    def chrom(self) -> np.ndarray:
        return self._values("chrom")

    @property
    def effect(self) -> np.ndarray:
        return self._values("effect")

    @property
    def other(self) -> np.ndarray:
        return self._values("other")

    def __len__(self) -> int:
        return len(self.line)

    @property
    def pgs_id(self) -> str:
        return self.meta.get("pgs_id", "")

    @property
    def citation(self) -> str:
        return self.meta.get("citation", "")

    @property
    def trait(self) -> str:
        return self.meta.get("trait_reported", "") or self.meta.get("trait_mapped", "")

    def row(self, i: int) -> ScoreRow:
        pos = int(self.pos[i])
        return ScoreRow(int(self.line[i]), str(self.rsid[i]), str(self.chrom[i]),
                        pos if pos >= 0 else None, str(self.effect[i]), str(self.other[i]),
                        float(self.weight[i]), not self.reason[i], str(self.reason[i]))

    @property
    def rows(self) -> tuple[ScoreRow, ...]:
        return tuple(self.row(i) for i in range(len(self)))


def normalise_build(text: str) -> str:
    """``'hg38'`` -> ``'GRCh38'``; unknown or empty -> ``'unknown'``.

    >>> normalise_build("GRCh38"), normalise_build("hg19"), normalise_build("NR")
    ('GRCh38', 'GRCh37', 'unknown')
    """
    return _BUILDS.get(text.strip().lower(), "unknown")


def bare_chrom(chrom: str) -> str:
    """Chromosome name without a ``chr`` prefix, with X/Y/MT spelled the usual way.

    >>> bare_chrom("chr7"), bare_chrom("chrx"), bare_chrom("M"), bare_chrom("23")
    ('7', 'X', 'MT', 'X')
    """
    c = chrom.strip()
    if c.lower().startswith("chr"):
        c = c[3:]
    u = c.upper()
    if u in ("M", "MT"):
        return "MT"
    return {"23": "X", "24": "Y", "X": "X", "Y": "Y"}.get(u, c)


def read_scoring_file(path: str | Path) -> ScoringFile:
    """Read a scoring file from disk (``.txt`` or ``.txt.gz``)."""
    p = Path(path)
    try:
        gc.disable()  # millions of small strings: the cycle collector would rescan them
        with open(p, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(p, "rb") if gz else open(p, "rb")) as f:
            return parse_scoring_file(f, name=str(p))  # type: ignore[arg-type]
    except OSError as exc:
        raise InputError(f"cannot read the scoring file ({exc})", where=str(p),
                         hint="give a PGS Catalog scoring file (.txt or .txt.gz)") from exc
    except UnicodeDecodeError as exc:
        raise InputError("the scoring file is not UTF-8 text", where=str(p),
                         hint="give a PGS Catalog scoring file (.txt or .txt.gz)") from exc
    finally:
        gc.enable()


def parse_scoring_file(f: IO[str] | IO[bytes], *, name: str = "<scoring file>") -> ScoringFile:
    """Parse an open scoring file (text or binary)."""
    meta: dict[str, str] = {}
    lineno = 0
    header = ""
    while True:
        raw = f.readline()
        if not raw:
            break
        lineno += 1
        line = (raw.decode("utf-8") if isinstance(raw, bytes) else raw).rstrip("\r\n")
        if line.startswith("#"):
            key, eq, value = line.lstrip("#").partition("=")
            if eq:
                meta[key.strip()] = value.strip()
            continue
        if line.strip():
            header = line
            break
    if not header:
        raise InputError("no column header line found", where=name,
                         hint="a scoring file has '#' header lines, then a line of column names")
    cols = [c.strip() for c in header.split("\t")]
    idx = {c: i for i, c in enumerate(cols)}
    _check_columns(idx, name, lineno)
    harmonised = "hm_chr" in idx and "hm_pos" in idx
    body = f.read()
    data = io.BytesIO(body.encode("utf-8") if isinstance(body, str) else body)
    use = [c for c in cols if c in _USED and c not in ("rsID", "hm_rsID") and not (
        harmonised and c in ("chr_name", "chr_position"))]
    num = [c for c in ("effect_weight", "hm_pos" if harmonised else "chr_position")
           if c in use]
    try:  # fast: numbers parsed by pandas' C reader
        df = pd.read_csv(data, sep="\t", header=None, names=cols, usecols=use,
                         dtype={c: (np.float64 if c in num else "category") for c in use},
                         keep_default_na=False, na_values={num[-1]: [""]} if len(num) > 1
                         else {}, quoting=3, engine="c")
    except ValueError:  # some number is not one: read text and find which (slow path)
        data.seek(0)
        try:
            df = pd.read_csv(data, sep="\t", header=None, names=cols, usecols=use,
                             dtype=object, keep_default_na=False, na_filter=False, quoting=3,
                             engine="c")
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"the variant table cannot be read ({exc})", where=name,
                             hint="rows must be tab-separated with the header's columns"
                             ) from None
    except pd.errors.ParserError as exc:
        raise InputError(f"the variant table cannot be read ({exc})", where=name,
                         hint="rows must be tab-separated with the header's columns") from None
    # line numbers count blank lines inside the table as absent (pandas skips them)
    lines = np.arange(lineno + 1, lineno + 1 + len(df), dtype=np.int64)
    if not len(df):
        raise InputError("the scoring file has no variant rows", where=f"{name}:{lineno}",
                         hint="check the file is complete")
    build = normalise_build(meta.get("HmPOS_build", "") if harmonised
                            else meta.get("genome_build", ""))
    id_cols = [c for c in ("hm_rsID", "rsID") if c in cols]

    def rsid_reader() -> np.ndarray:
        """The rsID columns, read from the kept text only when someone needs them."""
        if not id_cols:
            return np.full(len(lines), "", dtype=object)
        data.seek(0)
        ids = pd.read_csv(data, sep="\t", header=None, names=cols, usecols=id_cols,
                          dtype=object, keep_default_na=False, na_filter=False, quoting=3,
                          engine="c")
        out = np.full(len(ids), "", dtype=object)
        for c in reversed(id_cols):  # hm_rsID wins where given
            v = ids[c].to_numpy(dtype=object)
            given = ~pd.isna(v) & (v != "")
            out[given] = v[given]
        return out

    return _table(df, lines, name, meta, build, harmonised, tuple(cols), rsid_reader)


def _check_columns(idx: Mapping[str, int], name: str, lineno: int) -> None:
    missing = [c for c in ("effect_allele", "effect_weight") if c not in idx]
    has_pos = ("hm_chr" in idx and "hm_pos" in idx) or ("chr_name" in idx
                                                        and "chr_position" in idx)
    has_id = "rsID" in idx or "hm_rsID" in idx
    if not (has_pos or has_id):
        missing.append("rsID or chr_name/chr_position or hm_chr/hm_pos")
    if missing:
        raise InputError(f"required column(s) missing: {', '.join(missing)}",
                         where=f"{name}:{lineno}",
                         hint="use a PGS Catalog scoring file (format 2.0); only additive "
                              "effect_weight scores are supported")


def _to_float(text: np.ndarray) -> np.ndarray:
    """Numbers from strings; NaN for empty strings and anything that is not a number."""
    if text.dtype.kind == "f":  # parsed by the reader already
        return text
    text = np.where(pd.isna(text), "", text)
    out = np.full(len(text), np.nan)
    given = text != ""
    try:
        out[given] = text[given].astype(np.float64)
    except ValueError:  # some entry is not a number: find which, slowly
        out = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=np.float64)
    return out


def _mapped(values: Any, fn: Any) -> Coded:
    """``fn`` applied once per distinct value (alleles, chromosomes repeat a lot); missing
    values count as ``""``. ``values`` may be a categorical Series (the reader's own codes are
    used) or anything ``pd.factorize`` takes."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy().astype(np.int64)
        uniq = values.cat.categories
    else:
        codes, uniq = pd.factorize(values)
    table = np.array([*(fn(str(u)) for u in uniq), fn("")], dtype=object)
    return Coded(np.where(codes < 0, len(table) - 1, codes), table)


def _map_unique(values: Any, fn: Any) -> np.ndarray:
    return _mapped(values, fn).values


def _table(df: pd.DataFrame, lines: np.ndarray, name: str, meta: dict[str, str], build: str,
           harmonised: bool, cols: tuple[str, ...], rsid_reader: Any) -> ScoringFile:
    n = len(df)
    empty = pd.Series(np.full(n, "", dtype=object))

    def col(c: str) -> pd.Series:
        return df[c] if c in df.columns else empty

    chrom_c = _mapped(col("hm_chr" if harmonised else "chr_name"),
                      lambda u: bare_chrom(u) if u.strip() else "")
    chrom_s = chrom_c.values
    pos_s = col("hm_pos" if harmonised else "chr_position").to_numpy()
    pos_f = _to_float(pos_s)
    bad = (np.flatnonzero(~pd.isna(pos_s) & (pos_s != "") & ~np.isfinite(pos_f))
           if pos_s.dtype.kind == "O" else np.zeros(0, dtype=np.int64))
    if len(bad):
        raise InputError(f"position {pos_s[bad[0]]!r} is not a number",
                         where=f"{name}:{lines[bad[0]]}",
                         field="hm_pos" if harmonised else "chr_position",
                         hint="positions are whole 1-based base-pair numbers")
    has_pos = (chrom_s != "") & np.isfinite(pos_f)
    pos = np.where(has_pos, np.nan_to_num(pos_f, nan=-1), -1).astype(np.int64)
    chrom_c = Coded(np.where(has_pos, chrom_c.codes, len(chrom_c.table) - 1), chrom_c.table)
    effect_c = _mapped(col("effect_allele"), lambda u: u.strip().upper())

    def allele_or_empty(u: str) -> str:
        u = u.strip().upper()
        return u if _ALLELE.match(u) else ""

    given = _mapped(col("other_allele"), allele_or_empty)
    inferred = _mapped(col("hm_inferOtherAllele"),
                       lambda u: "" if "/" in u else allele_or_empty(u))
    has_other = (given.table != "")[given.codes]
    other_c = Coded(np.where(has_other, given.codes, len(given.table) + inferred.codes),
                    np.concatenate([given.table, inferred.table]))
    w_s = col("effect_weight").to_numpy()
    weight = _to_float(w_s)
    bad = np.flatnonzero(np.isnan(weight))
    bad = bad[[not (isinstance(w_s[i], float) or str(w_s[i]).strip().lower() == "nan")
               for i in bad.tolist()]]
    if len(bad):
        raise InputError(f"effect_weight {w_s[bad[0]]!r} is not a number",
                         where=f"{name}:{lines[bad[0]]}", field="effect_weight",
                         hint="every row needs a numeric weight")
    reason = np.full(n, "", dtype=object)

    def mark(mask: Any, text: str | np.ndarray) -> None:
        sel = mask & (reason == "")
        reason[sel] = text if isinstance(text, str) else text[sel]

    flag_cols = [c for c in _FLAG_COLUMNS if c in df.columns]
    if flag_cols:
        flags = np.stack([_map_unique(col(c), lambda u: u.strip().lower() == "true")
                          .astype(bool) for c in flag_cols], axis=1)
        has = flags.any(axis=1)
        if has.any():
            texts = np.full(n, "", dtype=object)
            names = np.array(flag_cols)
            for i in np.flatnonzero(has).tolist():
                texts[i] = f"non-additive row ({', '.join(names[flags[i]])})"
            mark(has, texts)
    dos = [c for c in _DOSAGE_COLUMNS if c in df.columns]
    if dos:
        mark(np.stack([_map_unique(col(c), lambda u: bool(u.strip())).astype(bool)
                       for c in dos], axis=1).any(axis=1),
             "per-dosage weights (dosage_k_weight) are not supported")
    mark(~np.isfinite(weight), "effect_weight is not finite")
    eff_ok = np.array([bool(_ALLELE.match(u)) for u in effect_c.table])[effect_c.codes]
    if not eff_ok.all():
        texts = np.full(n, "", dtype=object)
        for i in np.flatnonzero(~eff_ok).tolist():
            texts[i] = (f"effect allele {effect_c.table[effect_c.codes[i]]!r} is not a DNA "
                        "sequence")
        mark(~eff_ok, texts)
    sf = ScoringFile(name, meta, build, harmonised, cols, lines, pos, weight, reason,
                     reason == "", {"chrom": chrom_c, "effect": effect_c, "other": other_c},
                     rsid_reader)
    no_pos = np.flatnonzero(~has_pos)
    if len(no_pos):  # rows without a position need an rsID
        rs_ok = np.array([str(r)[:2].lower() == "rs" for r in sf.rsid[no_pos]], dtype=bool)
        no_id = no_pos[~rs_ok & (reason[no_pos] == "")]
        reason[no_id] = "neither a position nor an rsID"
        sf.scorable[no_id] = False
    return sf
