"""Sessions for the printer list. Takes the list on every scrape; starts, re-creates and
closes PrinterSessions to match it, in this process or split over worker processes by a
hash of the serial, and hands on every printer's PrinterStatus and metric lines."""
