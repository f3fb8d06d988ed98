"""Delivery channels: one module per provider, each a real client of the provider's documented wire
format (services/notify/channels/base.py is the contract every channel meets)."""
