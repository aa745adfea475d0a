"""The batch path as plain functions (no Dagster): list a partition's raw files, validate them into
the Parquet lake and the quarantine, and merge the lake into the PostgreSQL warehouse."""
