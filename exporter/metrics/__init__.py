"""Metric lines. Takes PrinterStatuses and the inventory's and exporter's own state;
hands on the catalogue's families, rendered as Prometheus text or OpenMetrics bytes."""
