"""Sessions for the printer list. Takes the list on every scrape; starts, re-creates and
closes PrinterSessions to match it, and hands on every printer's PrinterStatus."""
