"""The x3d_kernel_variants rule's job (workflow/rules/search.smk): score paper Table 1's kernel-placement variants
of X3D-S and write them for Table 1 and Figure 2."""

from e3d.script_log import log_to
from e3d.search.variants import VariantsSettings, summary, write_variants

log_to(snakemake.log[0])
print(summary(write_variants(snakemake.output[0], VariantsSettings.from_config(snakemake.params.cfg))))
