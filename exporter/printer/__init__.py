"""One printer. Takes a PrinterRecord and the printer's MQTT reports; hands on a
PrinterStatus: the merged report read into a typed snapshot, plus connection counters."""
