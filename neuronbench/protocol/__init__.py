"""The contract of a number: how it is scored (`scoring`, `metrics`) and recorded (`record`).

Imports nothing of the harness (runner, executors, leaderboard, cli, registry, plugin)
nor any plug-in.
"""
