# E3D reference pipeline: data -> search -> train -> evaluate/profile -> tables/report.
# Usage: snakemake all            (built-in synthetic data, local cores; profiles/default is applied)
#        snakemake study          (all, plus the models and studies config `study` keeps out of all)
#        snakemake --profile slurm all --configfile config/paper.yaml
from e3d.config import validate_config


configfile: "config/config.yaml"


# Fills schema defaults and stops with an error naming the bad key (typo, wrong type).
validate_config(config)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/darts.smk"
include: "workflow/rules/sgs.smk"
# after train.smk and search.smk: adds its derived models and search runs to those rules
include: "workflow/rules/baselines.smk"
# last: its table rules (e3d.tables.registry) read the DARTS, SGS and baselines sections' helpers
include: "workflow/rules/tables.smk"


rule all:
    input:
        TARGETS.all,
    default_target: True


rule study:
    input:
        TARGETS.all,
        TARGETS.study,
