#!/usr/bin/env python3
"""Build hyperhealth's own pharmacogenomics tables from ``../shared/data/pgx``.

Usage (from the repository root)::

    .venv/bin/python tools/build_pgx_tables.py [--shared ../shared/data] [--check]

Writes, under ``hyperhealth/insights/pgx/data/``:

``definitions.json``
    Allele definitions per gene that can be called from a VCF (GRCh38 positions, reference and
    alternate VCF alleles, every named allele as a list of VCF alleles or ``null`` where the allele
    does not define the position), with the per-gene settings of the source exemptions file
    (required positions, extra positions, unphased priorities, AMP tier-1 positions).
``phenotypes.json``
    Per gene: allele -> function, allele -> activity value, and the rules that turn two alleles into
    a phenotype (unordered function pair -> phenotype, activity score -> phenotype). The rules are
    *derived* from the source diplotype tables and the build fails if a table is not a function of
    the function pair (or of the activity score).
``drugs.json``
    CPIC gene-drug pairs: RxNorm ingredient code, ATC codes, CPIC level and status, guideline URL,
    PubMed ids.
``recommendations.json``
    Structured CPIC recommendations: drug, gene(s), phenotype per gene, action (one of
    ``use_as_directed``, ``adjust_dose``, ``consider_alternative``, ``avoid``,
    ``no_recommendation``, ``see_guideline``),
    dose note, strength where the source records one, citation (PMIDs, guideline URL) and the source
    text kept for audit (never shown to people as our words).
``SOURCES.md``
    Where every table came from: repository, commit, data version, licence, and what was derived.

``--check`` rebuilds in memory and exits non-zero when the files on disk differ (for CI).
The output is deterministic (sorted keys, no time stamps).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "hyperhealth" / "insights" / "pgx" / "data"
FORMAT = "hyperhealth.pgx/1"

# --- provenance of the inputs (see ../shared/data/pgx/README.md) ----------------------------------
PHARMCAT = {
    "repository": "https://github.com/PharmGKB/PharmCAT",
    "commit": "5431bf1187e50383df7e7db18ef67b36fc8b562e",
    "release": "v3.1.1 (2025-11-19)",
    "licence": "allele definitions and phenotypes: ClinPGx/PharmGKB data CC BY-SA 4.0, "
               "CPIC data CC0 1.0; repository code MPL-2.0 (no code used)",
}
PYPGX = {
    "repository": "https://github.com/sbslee/pypgx",
    "commit": "fa6b9f70747bdf1b6566adc5c21bb17276ae9f52",
    "release": "0.26.0 (2026-01-04)",
    "licence": "MIT (Copyright (c) 2020 Seung-been \"Steven\" Lee); table content from CPIC "
               "(CC0 1.0)",
}

#: genes the matcher calls from a VCF (CYP2D6 needs structural-variant calling: outside calls only)
VCF_GENES = ("ABCG2", "CACNA1S", "CFTR", "CYP2B6", "CYP2C19", "CYP2C9", "CYP3A4", "CYP3A5",
             "CYP4F2", "DPYD", "G6PD", "IFNL3", "NAT2", "NUDT15", "RYR1", "SLCO1B1", "TPMT",
             "UGT1A1", "VKORC1")
#: genes accepted only as outside calls
OUTSIDE_ONLY = ("CYP2D6", "HLA-A", "HLA-B", "MT-RNR1")

#: phenotype files that are missing at the PharmCAT commit; the newest older version is used
OLDER_PHENOTYPES = {
    "CYP2D6": ("_older_versions/CYP2D6.2024-08-27_c8100ec.json.gz",
               "commit c8100ec8, data 2024-08-27; 24 of 171 current CYP2D6 alleles are absent"),
    "G6PD": ("_older_versions/G6PD.2023-08-08_76bfe08.json.gz",
             "commit 76bfe08c, data v1.30.0; 'Telti, Kobe' is absent"),
    "RYR1": ("_older_versions/RYR1.2023-12-19_5cb6717.json.gz",
             "commit 5cb67175, data v1.35; only 49 of 339 current RYR1 alleles have a function"),
}

#: PharmCAT phenotype names -> the names CPIC recommendation tables use for the same result
PHENOTYPE_ALIASES = {
    ("CFTR", "ivacaftor responsive in CF patients"): "Favorable Response",
    ("CFTR", "ivacaftor non-responsive in CF patients"): "Unfavorable Response",
}

# --- recommendation action categories ---------------------------------------------------------
# Cues searched in the first sentence of the CPIC text, then in the whole text. Within a sentence
# the cue that occurs *first* decides (CPIC states the primary action first: "Consider a 50%
# reduction ... or select an alternative drug" is a dose change). The category is our summary; the
# source text is kept next to it.
_ACTION_RULES: tuple[tuple[str, str, str], ...] = (
    ("no_recommendation", "none", r"^\s*(none|no recommendation|n/a)\.?\s*$|^no recommendation"
                                  r"|does not provide a recommendation|^no action recommended"
                                  r"|laboratory data should guide"),
    ("use_as_directed", "not avoid", r"\bno (reason|need) to avoid\b"),
    ("see_guideline", "implications", r"^implications for"),
    ("avoid", "avoid", r"\bavoid\b(?! (moderate|strong|weak|concomitant|co-?administration|cyp))"
                       r"|\bnot recommended\b|\bcontraindicated\b|\bdo not use\b"
                       r"|\bshould not be used\b"),
    ("consider_alternative", "alternative", r"\balternative\b|\bselect (an?|another)\b"
                                            r"|\bconsider (hormonal|other|another) therapy"
                                            r"|\bconsider (a |an )?(non-|different)"),
    ("adjust_dose", "dose change", r"\d+\s*%\s*(of|reduction|increase)|\bby \d+(-\d+)?\s*%"
                                   r"|\breduc\w*\b|\bdecrease\w*\b|\bincrease\w* (the )?"
                                   r"(starting |initial |maintenance )?(daily )?dose|<=\s*\d"
                                   r"|\bup to \d|\b\d+(\.\d+)? to \d+(\.\d+)? times\b"
                                   r"|\blower (starting )?dose|\bhigher (starting |target )?dose"
                                   r"|\btitrat\w+|\bmaximum (dose|of)|\binitiate dose at \d"
                                   r"|\bstarting total daily dose of at least"),
    ("use_as_directed", "standard", r"\b(recommended|standard|desired|normal|label[- ]"
                                    r"recommended|usual) (starting |initial )?(daily )?(dose|dosing"
                                    r"|therapy)|\buse per standard\b|"
                                    r"\bprescribe per standard\b|\bprescribe as (per|directed)\b|"
                                    r"\buse (of )?\w+ (is )?(as )?(per|at) standard\b|"
                                    r"label[- ]recommended|according to the product label|"
                                    r"no adjustments needed|no indication to change dose|"
                                    r"standard of care dosing"),
)
_DOSE_NOTE = re.compile(
    r"(<=\s*\d+\s*mg(\s+per day)?|\d+(\.\d+)?\s*(-|to)\s*\d+(\.\d+)?\s*%|\d+(\.\d+)?\s*%"
    r"|\d+(\.\d+)? to \d+(\.\d+)? times)", re.I)


def classify_action(text: str) -> tuple[str, str]:
    """``(action, rule)`` for a CPIC recommendation text (see ``_ACTION_RULES``)."""
    t = " ".join(text.replace("\n", " ").split())
    first = re.split(r"(?<=[.;])\s+", t, maxsplit=1)[0] if t else ""
    for part, where in ((first, "first sentence"), (t, "whole text")):
        hits = []
        for order, (action, name, pattern) in enumerate(_ACTION_RULES):
            m = re.search(pattern, part, re.I)
            if m:
                hits.append((m.start(), order, action, name))
        if hits:
            _, _, action, name = min(hits)
            return action, f"{name} ({where})"
    return "see_guideline", "no rule matched"


def dose_note(text: str) -> str:
    """The numeric dose change named in a recommendation text ('50%', '<=20mg per day' ...)."""
    found = [m.group(0).strip() for m in _DOSE_NOTE.finditer(text)]
    return "; ".join(dict.fromkeys(found))


# --- helpers ------------------------------------------------------------------------------------
def _read_json(path: Path) -> Any:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _dump(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- definitions ------------------------------------------------------------------------------
def build_definitions(pgx: Path) -> dict[str, Any]:
    ddir = pgx / "pharmcat" / "definition"
    exemptions = _read_json(ddir / "exemptions.json")
    genes: dict[str, Any] = {}
    files: dict[str, str] = {}
    for gene in VCF_GENES:
        path = ddir / f"{gene}_translation.json"
        d = _read_json(path)
        files[path.name] = _sha(path)
        if str(d.get("formatVersion")) != "2":
            raise SystemExit(f"{path}: unexpected formatVersion {d.get('formatVersion')}")
        positions = []
        for v in d["variants"]:
            if v["chromosome"] != d["chromosome"]:
                raise SystemExit(f"{path}: variant on {v['chromosome']}, gene on {d['chromosome']}")
            positions.append({"pos": v["position"], "rsid": v["rsid"], "ref": v["ref"],
                              "alts": v["alts"], "hgvs": v["chromosomeHgvsName"],
                              "cpic_alleles": v["cpicAlleles"]})
        npos = len(positions)
        alleles = []
        refs = 0
        for a in d["namedAlleles"]:
            if len(a["alleles"]) != npos:
                raise SystemExit(f"{path}: {a['name']} has {len(a['alleles'])} alleles, "
                                 f"{npos} positions")
            refs += bool(a["reference"])
            alleles.append({"name": a["name"], "id": a["id"], "reference": bool(a["reference"]),
                            "alleles": a["alleles"],
                            "structural": bool(a["structuralVariant"])})
        if refs != 1:
            raise SystemExit(f"{path}: {refs} reference alleles")
        ex = exemptions.get(gene, {})
        sub = dict(d.get("suballelesMap") or {})
        genes[gene] = {
            "chromosome": d["chromosome"], "build": d["genomeBuild"],
            "refseq": d["refSeqChromosomeId"], "version": d["version"],
            "source": d["source"], "positions": positions, "alleles": alleles,
            "required_positions": ex.get("requiredPositions") or [],
            "extra_positions": [{"pos": e["position"], "rsid": e["rsid"], "ref": e["ref"],
                                 "alts": e["alts"]} for e in ex.get("extraPositions") or []],
            "unphased_priorities": [{"candidates": p["list"], "pick": p["pick"]}
                                    for p in ex.get("unphasedDiplotypePriorities") or []],
            "amp1_positions": ex.get("amp1Positions") or [],
            "amp1_alleles": ex.get("amp1Alleles") or [],
            "suballeles": sub,
        }
    return {"genes": genes, "files": files}


# --- phenotypes -------------------------------------------------------------------------------
def _num(text: Any) -> float | None:
    if text is None:
        return None
    try:
        return float(str(text))
    except ValueError:
        return None


def _score_key(text: str) -> tuple[float, str]:
    """Sort activity scores numerically; '≥4.0' sorts as 4.0 (after '4.0')."""
    return (float(text.lstrip("≥>")), text)


def build_phenotypes(pgx: Path) -> dict[str, Any]:
    pdir = pgx / "pharmcat" / "phenotype"
    out: dict[str, Any] = {}
    files: dict[str, str] = {}
    sources: list[tuple[str, Path, str]] = []
    for path in sorted(pdir.glob("*.json")):
        sources.append((path.stem.replace("_", "-"), path, ""))
    for gene, (rel, note) in OLDER_PHENOTYPES.items():
        sources.append((gene, pdir / rel, note))
    for gene, path, stale in sources:
        d = _read_json(path)
        files[str(path.relative_to(pdir))] = _sha(path)
        function = dict(d["haplotypes"])
        activity = {k: v for k, v in (d.get("activityValues") or {}).items()}
        by_function: dict[tuple[str, ...], set[str]] = defaultdict(set)
        by_score: dict[str, set[str]] = defaultdict(set)
        support: dict[tuple[str, ...], int] = defaultdict(int)
        for row in d["diplotypes"]:
            names = [n for n, c in row["diplotypekey"].items() for _ in range(int(c))]
            key = tuple(sorted(function[n] for n in names))
            by_function[key].add(row["generesult"])
            support[key] += 1
            if activity and row.get("activityScore") not in (None, "n/a"):
                by_score[row["activityScore"]].add(row["generesult"])
        bad = {k: v for k, v in by_function.items() if len(v) > 1}
        if bad:
            raise SystemExit(f"{path}: phenotype is not a function of the function pair: {bad}")
        bad_s = {k: v for k, v in by_score.items() if len(v) > 1}
        if bad_s:
            raise SystemExit(f"{path}: phenotype is not a function of the activity score: {bad_s}")
        out[gene] = {
            "version": str(d.get("version")), "stale": stale,
            "function": function,
            "activity": activity,
            "rules": [{"functions": list(k), "phenotype": next(iter(v)), "diplotypes": support[k]}
                      for k, v in sorted(by_function.items())],
            "score_rules": [{"score": s, "phenotype": next(iter(v))}
                            for s, v in sorted(by_score.items(), key=lambda kv: _score_key(kv[0]))],
            "diplotypes_in_source": len(d["diplotypes"]),
        }
    return {"genes": out, "files": files}


# --- drugs ------------------------------------------------------------------------------------
def build_drugs(pgx: Path) -> list[dict[str, Any]]:
    rows = []
    with open(pgx / "pypgx" / "cpic-table.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rows.append({
                "gene": r["Gene"], "drug": r["Drug"], "rxnorm": r["RxNorm"],
                "atc": [a.strip() for a in r["ATC"].split(",") if a.strip()],
                "guideline_url": r["Guideline"], "cpic_level": r["CPICLevel"],
                "cpic_status": r["CPICLevelStatus"], "pharmgkb_level": r["PharmGKBLevel"],
                "fda_label": r["FDALabel"],
                "pmids": [p for p in r["PMID"].split(";") if p],
            })
    rows.sort(key=lambda r: (r["drug"], r["gene"]))
    return rows


# --- recommendations ----------------------------------------------------------------------------
def _pharmcat_annotations(pgx: Path) -> list[dict[str, Any]]:
    """CPIC annotations inside PharmCAT's example reports (they carry strength and population)."""
    out = []
    for path in sorted((pgx / "pharmcat" / "examples").glob("*.report.json.gz")):
        rep = _read_json(path)
        for drug, entry in rep["drugs"]["CPIC Guideline Annotation"].items():
            pmids = [c["pmid"] for c in entry.get("citations") or [] if c.get("pmid")]
            for gl in entry.get("guidelines") or []:
                for ann in gl.get("annotations") or []:
                    for key in ann.get("lookupKey") or []:
                        if not key:
                            continue
                        out.append({"drug": drug, "key": dict(key),
                                    "text": (ann.get("drugRecommendation") or "").strip(),
                                    "strength": ann.get("classification") or "",
                                    "population": ann.get("population") or "",
                                    "dosing_information": bool(ann.get("dosingInformation")),
                                    "alternate_drug": bool(ann.get("alternateDrugAvailable")),
                                    "pmids": pmids, "url": gl.get("url") or "",
                                    "version": gl.get("version") or "",
                                    "file": path.name})
    return out


def build_recommendations(pgx: Path, drugs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_pair = {(d["drug"], d["gene"]): d for d in drugs}
    annotations = _pharmcat_annotations(pgx)
    # strength per (drug, frozenset(gene -> phenotype)), from PharmCAT's CPIC annotations
    strength: dict[tuple[str, frozenset[tuple[str, str]]], list[dict[str, str]]] = \
        defaultdict(list)
    for a in annotations:
        k = (a["drug"], frozenset(a["key"].items()))
        item = {"strength": a["strength"], "population": a["population"]}
        if a["strength"] and item not in strength[k]:
            strength[k].append(item)

    def citation(drug: str, genes: list[str]) -> tuple[list[str], str, str]:
        pmids: list[str] = []
        url = ""
        level = ""
        for g in genes:
            d = by_pair.get((drug, g))
            if d:
                pmids += [p for p in d["pmids"] if p not in pmids]
                url = url or d["guideline_url"]
                level = level or d["cpic_level"]
        return pmids, url, level

    recs: list[dict[str, Any]] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    with open(pgx / "pypgx" / "recommendation-table.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            genes = [r["Gene1"]] + ([r["Gene2"]] if r["Gene2"] != "None" else [])
            phen = {r["Gene1"]: r["Phenotype1"]}
            if r["Gene2"] != "None":
                phen[r["Gene2"]] = r["Phenotype2"]
            text = r["Recommendation"].strip()
            action, rule = classify_action(text)
            pmids, url, level = citation(r["Drug"], genes)
            key = (r["Drug"], tuple(sorted(phen.items())))
            if key in seen:
                continue
            seen.add(key)
            known = {g: p for g, p in phen.items() if p != "None"}
            recs.append({
                "drug": r["Drug"], "genes": genes, "phenotypes": phen,
                "action": action, "action_rule": rule, "dose_note": dose_note(text),
                "strength": strength.get((r["Drug"], frozenset(known.items())), []),
                "pmids": pmids, "guideline_url": url, "cpic_level": level,
                "source": "pypgx recommendation-table.csv", "source_text": text,
            })
    # drugs PyPGx has no rows for: take the CPIC annotations PharmCAT reported in its examples
    have = {r["drug"] for r in recs}
    for a in annotations:
        if a["drug"] in have:
            continue
        genes = sorted(a["key"])
        key = (a["drug"], tuple(sorted(a["key"].items())))
        action, rule = classify_action(a["text"])
        pmids, url, level = citation(a["drug"], genes)
        item = {"strength": a["strength"], "population": a["population"]}
        if key in seen:
            for r in recs:
                if r["drug"] == a["drug"] and tuple(sorted(r["phenotypes"].items())) == key[1] \
                        and item not in r["strength"]:
                    r["strength"].append(item)
            continue
        seen.add(key)
        recs.append({
            "drug": a["drug"], "genes": genes, "phenotypes": dict(a["key"]),
            "action": action, "action_rule": rule, "dose_note": dose_note(a["text"]),
            "strength": [item] if a["strength"] else [],
            "pmids": pmids or a["pmids"], "guideline_url": url or a["url"], "cpic_level": level,
            "source": f"PharmCAT example report {a['file']} (CPIC annotation, data "
                      f"{a['version']})",
            "source_text": a["text"],
        })
    recs.sort(key=lambda r: (r["drug"], sorted(r["phenotypes"].items())))
    return recs


# --- SOURCES.md -------------------------------------------------------------------------------
def sources_md(defs: dict[str, Any], phen: dict[str, Any], recs: list[dict[str, Any]]) -> str:
    actions: dict[str, int] = defaultdict(int)
    for r in recs:
        actions[r["action"]] += 1
    lines = [
        "# Sources of the pharmacogenomics tables",
        "",
        "Generated by `tools/build_pgx_tables.py` from `../shared/data/pgx/`; do not edit by hand.",
        "The tables are the project's own format. Their content comes from the sources below and",
        "keeps their licences: the allele definitions and phenotype rules are ClinPGx/PharmGKB",
        "data",
        "(**CC BY-SA 4.0**, attribution: ClinPGx/PharmGKB, https://www.clinpgx.org) and CPIC data",
        "(**CC0 1.0**, https://cpicpgx.org); the drug and recommendation tables come from PyPGx",
        "(**MIT**, copyright (c) 2020 Seung-been \"Steven\" Lee) whose content is CPIC's",
        "(CC0 1.0).",
        "Derived tables (`definitions.json`, `phenotypes.json`) are shared under CC BY-SA 4.0.",
        "",
        "| table | source | commit / version | licence |",
        "|---|---|---|---|",
        f"| definitions.json | {PHARMCAT['repository']} `src/main/resources/.../definition/alleles`"
        f" | `{PHARMCAT['commit']}` ({PHARMCAT['release']}), data "
        f"{next(iter(defs['genes'].values()))['version']} | {PHARMCAT['licence']} |",
        f"| phenotypes.json | {PHARMCAT['repository']} `.../phenotype/*.json` | "
        f"`{PHARMCAT['commit']}`; CYP2D6, G6PD, RYR1 from older versions (below) | "
        f"{PHARMCAT['licence']} |",
        f"| drugs.json | {PYPGX['repository']} `pypgx/api/data/cpic-table.csv` | "
        f"`{PYPGX['commit']}` ({PYPGX['release']}) | {PYPGX['licence']} |",
        f"| recommendations.json | {PYPGX['repository']} `recommendation-table.csv`; CPIC "
        f"annotations in PharmCAT's example reports (`docs/examples/*.report.json`) for drugs "
        f"PyPGx has no rows for, and for the strength of recommendation | `{PYPGX['commit']}`; "
        f"`{PHARMCAT['commit']}` | {PYPGX['licence']}; CPIC CC0 1.0 |",
        "",
        "## What was derived",
        "",
        "- `phenotypes.json` `rules`: the unordered pair of allele functions -> phenotype, read",
        "  off",
        "  every row of the source diplotype table; the build stops if two rows with the same pair",
        "  disagree. `score_rules` likewise for activity score -> phenotype.",
        "- `recommendations.json` `action`: our one-word summary of the CPIC text (rules in",
        "  `classify_action`, first sentence first); `dose_note`: the numbers in the text.",
        "  The CPIC text is kept as `source_text` for audit; what people read is written by",
        "  hyperhealth.",
        f"  Rows per action: {dict(sorted(actions.items()))}.",
        "",
        "## Stale phenotype files",
        "",
    ]
    for gene, (rel, note) in OLDER_PHENOTYPES.items():
        lines.append(f"- {gene}: `{rel}` ({note}). Results for alleles missing from it are "
                     "reported as unknown function.")
    lines += ["", "## Input file fingerprints (sha256, first 16 hex digits)", ""]
    for name, digest in sorted({**defs["files"], **phen["files"]}.items()):
        lines.append(f"- `{name}` {digest}")
    return "\n".join(lines) + "\n"


def build(shared: Path) -> dict[str, str]:
    pgx = shared / "pgx"
    if not pgx.is_dir():
        raise SystemExit(f"{pgx} is absent: pass --shared with the reference data folder")
    defs = build_definitions(pgx)
    phen = build_phenotypes(pgx)
    drugs = build_drugs(pgx)
    recs = build_recommendations(pgx, drugs)
    for gene, _p in PHENOTYPE_ALIASES:
        if gene not in phen["genes"]:
            raise SystemExit(f"alias for unknown gene {gene}")
    meta = {"format": FORMAT, "pharmcat": PHARMCAT, "pypgx": PYPGX}
    return {
        "definitions.json": _dump({**meta, "genes": defs["genes"],
                                   "outside_only": list(OUTSIDE_ONLY)}),
        "phenotypes.json": _dump({**meta, "genes": phen["genes"],
                                  "aliases": [{"gene": g, "phenotype": p, "as": a}
                                              for (g, p), a in PHENOTYPE_ALIASES.items()]}),
        "drugs.json": _dump({**meta, "pairs": drugs}),
        "recommendations.json": _dump({**meta, "recommendations": recs}),
        "SOURCES.md": sources_md(defs, phen, recs),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data",
                    help="the reference data folder (default ../shared/data)")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 when the files on disk are out of date")
    args = ap.parse_args(argv)
    files = build(args.shared)
    if args.check:
        stale = [n for n, text in files.items()
                 if not (args.out / n).is_file() or (args.out / n).read_text("utf-8") != text]
        if stale:
            print("out of date: " + ", ".join(stale), file=sys.stderr)
            return 1
        print("tables are up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
