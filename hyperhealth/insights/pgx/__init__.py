"""Pharmacogenomics: VCF -> star-allele diplotypes -> phenotypes -> CPIC-guided prescribing."""
