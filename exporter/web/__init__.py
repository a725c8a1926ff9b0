"""HTTP. Takes the registry and the fleet's statuses; hands on /metrics, the health
endpoints, the landing page and each printer's page to Prometheus and people, served by
http_server/."""
