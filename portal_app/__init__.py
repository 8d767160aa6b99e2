"""Portal: a self-hosted customer billing portal and merchant dashboard."""
