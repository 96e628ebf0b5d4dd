"""The HTTP API over the current serving bundle (`create_app` in app.py; `shelfcast serve` runs it)."""
