"""Graph assembly: the stages after the source, composed once for every mode.

``assemble`` wires fold → traces → observations → metric windows → alarms → index documents →
sinks; each mode hands it its source and its ``Shell`` (``pipeline.graph.shells``): the batch
shell (GroupByKey + the pure fold), the stateful streaming shell (keyed state + event-time
timers) or the catch-up shell (the same composites bounded, with carried state).
"""

from pipeline.graph.assemble import Graph, Sinks, SourceOut, assemble
from pipeline.graph.shells import BatchShell, CatchUpShell, Folded, StatefulShell

__all__ = ["Graph", "Sinks", "SourceOut", "assemble", "BatchShell", "CatchUpShell", "StatefulShell", "Folded"]
