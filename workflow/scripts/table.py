"""The table and figure rules' job (generated from e3d.tables.registry in workflow/rules/tables.smk): build one
paper table or figure from the rule's named inputs and settings, as `e3d tables NAME` does."""

import json

from e3d.script_log import log_to
from e3d.tables.build import build, named_inputs

log_to(snakemake.log[0])
build(snakemake.params.builder, named_inputs(snakemake.input), snakemake.params.table, snakemake.params.out)
print(json.dumps({"built": snakemake.params.builder, "out": snakemake.params.out}))
