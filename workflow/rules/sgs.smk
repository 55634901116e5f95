# Similarity Guided Sampling (issue 9): models entries with an `sgs:` block train their architecture with one SGS
# layer through the ordinary train rule (B' histogram per epoch in metrics.parquet) and are evaluated by the
# ordinary evaluate rule (each view costed at its own B': mean, distribution and histogram in the metrics JSON).
# results/table_sgs_{dataset}.csv (a tables.smk rule, from e3d.tables.registry) puts each base model beside its
# SGS version; this file says which tables the SGS section asks for.
from e3d.sgs.workflow import SGSConfig

SGS = SGSConfig(config)


TARGETS.add(SGS.targets(), models=[*SGS.pairs(), *SGS.pairs().values()])
