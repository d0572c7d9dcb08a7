"""Ad tracking: the click redirect, the impression pixel (``views``, hot paths: one statement
each), the ad servers' batch of touchpoints (``services`` validates and records them, ``auth``
knows the ad servers' ingest keys)."""
