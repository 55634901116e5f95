"""Paper tables, figures and the report: the paper's own numbers as data, our measured rows beside them,
figure helpers and the writers that turn both into CSV/Parquet/PNG artifacts."""
