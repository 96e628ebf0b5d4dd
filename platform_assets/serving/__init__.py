"""Serving: the immutable bundle the graph writes for the API (bundle.py, snapshot.py) and the HTTP API
that serves it (api/): forecast lookups, what-if scenarios scored by the champion, API keys and a log
of every request. The API reads only the bundle and its own stores, never the warehouse."""
