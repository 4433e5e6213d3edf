"""The small web app: health, metrics and the channels' inbound webhooks."""
