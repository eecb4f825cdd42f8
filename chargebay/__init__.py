"""Composition root: the `chargebay` CLI, the migrations, and the process that runs the stack."""
