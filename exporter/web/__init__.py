"""HTTP. Takes the registry and the fleet's statuses; hands on /metrics, /healthz and the
landing page to Prometheus and people."""
