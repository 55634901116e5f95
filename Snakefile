# E3D reference pipeline: data -> search -> train -> evaluate/profile -> tables/report.
# Usage: snakemake all            (built-in synthetic data, local cores; profiles/default is applied)
#        snakemake --profile slurm all --configfile config/paper.yaml
from e3d.config import validate_config


configfile: "config/config.yaml"


# Fills schema defaults and stops with an error naming the bad key (typo, wrong type).
validate_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/darts.smk"
include: "workflow/rules/sgs.smk"
# after train.smk and tables.smk: adds its derived models and search runs to those rules, reuses the table shell
include: "workflow/rules/baselines.smk"


rule all:
    input:
        ALL_TARGETS,
    default_target: True
