"""Collaborative todos with chat rooms.

``model`` (pure rules), ``server`` (the hotstate side), ``web`` (NiceGUI), ``tui`` (Textual).
"""
