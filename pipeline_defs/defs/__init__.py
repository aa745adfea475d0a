"""dg's defs folder. Components scaffolded with `dg scaffold defs …` land here; definitions.py merges
them into the code location next to the hand-written assets of assets/, sensors/ and pipeline_defs/."""
