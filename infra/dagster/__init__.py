"""Dagster's AWS deployment files: instance config, workspace and the code server's bootstrap."""
