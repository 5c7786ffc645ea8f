"""hotstate_rx: real-time, server-authoritative state over WebSocket."""
