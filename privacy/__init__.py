"""The privacy engine: data map, processing registry, retention, export, erasure, requests,
audit. Plain Python over models/; never imports Flask or api/."""
