"""The summary rule's job: the report's front page text (what the main comparison shows) from Table 7."""

import json

from e3d.artifacts import read_json
from e3d.script_log import log_to
from e3d.tables.summary import write_summary

log_to(snakemake.log[0])
chance = read_json(snakemake.input.evals[0]).get("chance_top1")
out = write_summary(snakemake.input.table7, snakemake.output.rst, snakemake.wildcards.dataset,
                    None if chance is None else 100.0 * float(chance))
print(json.dumps({"summary": str(out)}))
