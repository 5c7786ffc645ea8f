"""Runnable examples of hotstate_rx: ``python -m apps --help``.

``apps.todo``       collaborative todos with chat rooms (NiceGUI page + Textual client)
``apps.dashboard``  live machine metrics as composed Rx stores (NiceGUI page + Textual client)
``apps.cookie_login``  a FastAPI app's session cookie signs people in to its hotstate server
"""
