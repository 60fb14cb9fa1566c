"""Proof under stress: the deliver chain under injected faults, SIGKILLs and bad input.

`LIEFERN_STRESS_SCALE=ci` (default) keeps every suite small enough for each CI run;
`LIEFERN_STRESS_SCALE=nightly` runs the sizes quoted in docs/reliability.md.
"""
