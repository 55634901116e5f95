"""The config_used rule's job: the run's configuration, every default filled in, as YAML for the report."""

import yaml

from e3d.artifacts import write_bytes_atomic
from e3d.script_log import log_to

log_to(snakemake.log[0])
text = yaml.safe_dump(dict(snakemake.params.config), sort_keys=True, default_flow_style=False)
write_bytes_atomic(snakemake.output.yaml, text.encode())
print(f"wrote {snakemake.output.yaml}")
