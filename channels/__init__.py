"""Provider channels: webhook wire formats and signatures, outbound senders, durable outboxes.

Inbound functions take the raw request (body bytes, headers, URL) plus the org's secret and return
parsed models or raise ``WebhookError``; outbound goes through the outbox so a reply commits with
its message row and is retried until the provider accepts it.
"""
