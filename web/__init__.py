"""Web edge: aiohttp app, REST handlers, Socket.IO namespaces, auth and static pages."""
