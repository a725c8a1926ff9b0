"""bambu-exporter: a Prometheus exporter for fleets of Bambu Lab 3D printers."""

__version__ = "0.1.0"
