"""The leaderboard and the run summary, in one direction: records -> `aggregate` (cells,
chance, paired comparisons, per-class views, curves) -> renderers that read only the
aggregate (`markdown`: Markdown and CSV; `figures`; `site`) -> `files` (manifest, guarded
atomic writes). `build.build_leaderboard` is the entry ``neuronbench leaderboard`` calls;
`context.run_context` puts a finished run's numbers next to the controls and the
committed leaderboard. No module here imports torch.
"""
