"""The ntkcomp lab: experiments, the ``ntkcomp`` command (:mod:`experiments.cli`) and the
shared run harness (:mod:`experiments.harness`)."""

__all__: list[str] = []
