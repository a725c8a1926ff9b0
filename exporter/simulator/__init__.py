"""Simulated Bambu Lab printers speaking the real protocol (TLS MQTT), for the demo, the
tests and the benchmarks. See SimulatedFleet (in-process) and SimulatorProcess
(`python -m exporter simulate` as a subprocess)."""

from exporter.simulator.faults import Fault
from exporter.simulator.fleet import PrinterHandle, SimulatedFleet
from exporter.simulator.models import MODELS, Model, model_by_name, model_of_serial
from exporter.simulator.printer import SimulatedRecord
from exporter.simulator.process import SimulatorProcess

__all__ = ["Fault", "MODELS", "Model", "PrinterHandle", "SimulatedFleet", "SimulatedRecord",
           "SimulatorProcess", "model_by_name", "model_of_serial"]
