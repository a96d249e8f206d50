"""Named checks of a finished run, one module each: what it judges (`PHASES`), why it may
not apply (`not_applicable`), the gatherer of its facts from the run (`judge`) and the
pure check those facts go through. `registry.CHECKS` lists them in report order; the
scenario (`harness.scenario`) runs the phases they need and judges them as they end.
"""
