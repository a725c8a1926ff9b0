"""The printer list. Takes PostgreSQL rows or a YAML file; hands on validated
PrinterRecords (the last good list when the source fails), and the rows it rejected and why."""
