"""Outside calls: diplotypes from another lab or caller (CYP2D6, HLA-A, HLA-B, MT-RNR1, any gene).

A tab-separated file, one gene per line, ``#`` starts a comment::

    CYP2D6<TAB>*1/*4
    HLA-B<TAB>*15:02/*57:01
    MT-RNR1<TAB>1555A>G
    CYP2C19<TAB><TAB>Poor Metabolizer
    CYP2D6<TAB>*1/*4<TAB><TAB>1.0

Columns: gene, diplotype (``a/b``, or one allele for MT-RNR1), phenotype (optional), activity score
(optional). This is the column order PharmCAT's outside-call format uses, so its files work here.
A gene given here replaces what the VCF says about it.

>>> calls = parse_outside_calls("CYP2D6\\t*1/*4\\n# note\\nHLA-B\\t*57:01/*08:01\\n", "t.tsv")
>>> [(c.gene, c.diplotype) for c in calls]
[('CYP2D6', '*1/*4'), ('HLA-B', '*57:01/*08:01')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hyperhealth.errors import InputError

#: HLA alleles that CPIC guidelines act on (presence or absence is the phenotype):
#: HLA-B*57:01 abacavir (PMID 24561393), HLA-B*58:01 allopurinol (PMID 26094938),
#: HLA-B*15:02 carbamazepine/oxcarbazepine/phenytoin (PMIDs 29392710, 32779747),
#: HLA-A*31:01 carbamazepine (PMID 29392710)
HLA_ALLELES = {"HLA-A": ("*31:01",), "HLA-B": ("*15:02", "*57:01", "*58:01")}
_GENE = re.compile(r"^[A-Z0-9-]+$")
_HLA = re.compile(r"^\*?\d{2,3}:\d{2,3}(:\d{2,3}){0,2}[A-Z]?$")


@dataclass(frozen=True, slots=True)
class OutsideCall:
    gene: str
    diplotype: str | None
    phenotype: str | None
    activity_score: str | None
    where: str

    @property
    def alleles(self) -> tuple[str, ...]:
        if not self.diplotype:
            return ()
        return tuple(a.strip() for a in self.diplotype.split("/"))


def hla_phenotypes(gene: str, alleles: tuple[str, ...]) -> list[str]:
    """``['*57:01 positive', ...]``: presence of each actionable allele (2-field match).

    >>> hla_phenotypes("HLA-B", ("*15:02", "*57:01:01"))
    ['*15:02 positive', '*57:01 positive', '*58:01 negative']
    """
    two_field = {":".join(("*" + a.lstrip("*")).split(":")[:2]) for a in alleles}
    return [f"{a} {'positive' if a in two_field else 'negative'}" for a in HLA_ALLELES[gene]]


def parse_outside_calls(text: str, where: str = "outside calls") -> list[OutsideCall]:
    """Parse the TSV; every problem is an :class:`InputError` with file:line and a fix."""
    out: list[OutsideCall] = []
    seen: dict[str, int] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = [c.strip() for c in line.split("\t")]
        loc = f"{where}:{n}"
        if len(cols) < 2 or (len(cols) == 2 and not cols[1]):
            raise InputError("a line needs a gene and a diplotype or phenotype, separated by a "
                             "tab", where=loc, hint="write e.g. 'CYP2D6<TAB>*1/*4'")
        gene = cols[0].upper()
        if gene in ("MT_RNR1", "MTRNR1"):
            gene = "MT-RNR1"
        if not _GENE.match(gene):
            raise InputError(f"{cols[0]!r} is not a gene symbol", where=loc, field="gene",
                             hint="use the HGNC symbol, e.g. CYP2D6, HLA-B, MT-RNR1")
        if gene in seen:
            raise InputError(f"{gene} is given twice (lines {seen[gene]} and {n})", where=loc,
                             field="gene", hint="give one line per gene")
        seen[gene] = n
        dip = cols[1] or None
        phen = cols[2] if len(cols) > 2 and cols[2] else None
        score = cols[3] if len(cols) > 3 and cols[3] else None
        if dip is None and phen is None and score is None:
            raise InputError(f"{gene} has neither a diplotype nor a phenotype", where=loc,
                             hint="fill the second (diplotype) or third (phenotype) column")
        if dip is not None:
            parts = [p.strip() for p in dip.split("/")]
            if gene == "MT-RNR1":
                if len(parts) != 1:
                    raise InputError("MT-RNR1 is mitochondrial: give one allele, not a pair",
                                     where=loc, field="diplotype", hint="e.g. 'm.1555A>G'")
            elif len(parts) != 2 or not all(parts):
                raise InputError(f"diplotype {dip!r} is not two alleles separated by '/'",
                                 where=loc, field="diplotype", hint="e.g. '*1/*4'")
            if gene in HLA_ALLELES and not all(_HLA.match(p) for p in parts):
                raise InputError(f"{dip!r} is not a pair of HLA alleles", where=loc,
                                 field="diplotype", hint="e.g. '*57:01/*08:01'")
        if score is not None:
            try:
                float(score.lstrip("≥>"))
            except ValueError:
                raise InputError(f"activity score {score!r} is not a number", where=loc,
                                 field="activity score", hint="e.g. 1.0") from None
        out.append(OutsideCall(gene, dip, phen, score, loc))
    return out


def read_outside_calls(path: str | Path) -> list[OutsideCall]:
    """Read an outside-call TSV file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read the outside-call file ({err.strerror})", where=str(p),
                         hint="check the path") from None
    return parse_outside_calls(text, str(p))
