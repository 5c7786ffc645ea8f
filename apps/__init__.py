"""Runnable examples of hotstate_rx: ``python -m apps --help``.

``apps.todo``       collaborative todos with chat rooms (NiceGUI page + Textual client)
``apps.dashboard``  live machine metrics as composed Rx stores (NiceGUI page + Textual client)
``apps.cookie_login``  FastAPI's own session cookie signs people in (``python -m apps.cookie_login``)
"""
