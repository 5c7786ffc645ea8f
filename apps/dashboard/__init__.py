"""Live machine dashboard: stores composed as Observables.

``sampler`` (psutil) -> ``server`` (Rx-fed ``Metrics``, derived ``Stats`` via ``derive``)
-> ``web`` (NiceGUI charts) / ``tui`` (Textual sparklines).
"""
