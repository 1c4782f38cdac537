"""The aiohttp application: webhook, health, metrics and the read/write API."""
