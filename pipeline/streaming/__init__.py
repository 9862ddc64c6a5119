"""Streaming: the endless graph for Flink/Dataflow, and the local catch-up loop with carried state."""
