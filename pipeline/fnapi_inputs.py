"""FnApiRunner with worker processes: a stage's input goes to a worker in pieces, while it runs.

Beam's FnApiRunner (2.77) encodes a worker's whole share of a grouped stage input as one bytes
object and sends it as one data-plane message before it starts the bundle. memray at the
runner's peak (1M events, two workers) found that share five times over: the encoded share,
the queued ``Elements.Data``, the batch being sent, gRPC's serialisation and its send buffer,
about 260 MiB of a 345 MiB heap; each worker held the received message twice more. All of it
grew with the input. So, for worker processes (a gRPC data channel) only:

- ``GroupingBuffer.partition`` cuts each worker's share into pieces of about ``PIECE_BYTES``
  at element boundaries, and drops each key's decoded values once they are encoded;
- ``ListBuffer.partition``, and ``GroupingBuffer.partition`` of a group only one stage reads,
  hand their pieces over to the parts, which the sender empties as it goes: a stage's input is
  freed while it is sent (a buffer read again after that raises);
- ``BundleManager._send_input_to_worker`` sends the pieces one message each from a thread, so
  the bundle starts at once and the worker consumes them as they come;
- the data plane's send queues hold ``beam_worker.SEND_QUEUE_BYTES`` instead of 100 MiB (the receiving
  side already takes five messages at a time), which sets the pace;
- the runner's buffers keep at most ``spill.SPILL_BYTES`` each in memory (``pipeline.spill``):
  ``ListBuffer`` chunks beyond it go to disk; ``GroupingBuffer.append`` keeps each element
  encoded, in one of ``spill.PARTITIONS`` partitions by its key, and the group is made one
  partition at a time as it is sent. At 4M events the runner held 180 MiB of one decoded group
  and 145 MiB of stage outputs; now one partition per worker.

The elements and their encoding are Beam's; each key's values keep the order they came in.
What changes is how many messages carry them and, for a group, which worker gets which key (by
partition, not round-robin) and the order of keys. Nothing downstream depends on either: Beam
promises neither. The in-process runner (one worker) is left as it is: its data channel is a
list that the worker reads synchronously, with nothing in flight.
"""

from __future__ import annotations

import _thread
import logging
import threading

import apache_beam
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
from apache_beam.runners.worker import data_plane
from apache_beam.transforms.window import GlobalWindow, GlobalWindows
from apache_beam.utils import windowed_value

from pipeline.beam_worker import bound_data_plane
from pipeline.spill import PARTITIONS, ChunkList, KeyedChunks

PIECE_BYTES = 4 << 20   # one data-plane message of a stage input
# The Beam release whose FnApiRunner internals the functions below were written against and
# tested with (tests/pipeline/test_fnapi_inputs.py); another release keeps Beam's own.
WRITTEN_FOR = (2, 77)

_LOGGER = logging.getLogger(__name__)
READ_AGAIN = "a stage input was read again after FnApiRunner sent it (pipeline.fnapi_inputs)"
# Beam's own, kept at import (before ``stream_stage_inputs`` replaces them).
BEAM_PARTITION = execution.GroupingBuffer.partition
BEAM_SEND = fn_runner.BundleManager._send_input_to_worker
BEAM_LIST_PARTITION = execution.ListBuffer.partition
BEAM_GROUPING_COPY = execution.GroupingBuffer.copy
BEAM_GROUPING_APPEND = execution.GroupingBuffer.append
BEAM_GROUPING_EXTEND = execution.GroupingBuffer.extend
BEAM_LIST_INIT = execution.ListBuffer.__init__
BEAM_LIST_COPY = execution.ListBuffer.copy


class HandedOver(list):
    """A worker's part of a stage input that only the bundle reading it holds: the sender drops
    each piece once it is queued."""


class _Gone:
    """What a buffer holds after handing its pieces over: reading it again fails loudly (never
    an empty, silently short input)."""

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        raise RuntimeError(READ_AGAIN)

    __iter__ = __len__


GONE = _Gone()


def copy_shared(self):
    """``GroupingBuffer.copy``: Beam shares one buffer between the stages that consume it; a
    shared buffer keeps its pieces."""
    self.shared = True
    return BEAM_GROUPING_COPY(self)


class Pieces:
    """A worker's part of a stage input, made as it is sent (from chunks on disk, or grouped one
    partition at a time). One that only the bundle reading it holds (``handed_over``) can be
    read once: a second read raises instead of giving a short input."""

    def __init__(self, make, handed_over: bool) -> None:
        self._make, self.handed_over, self._read = make, handed_over, False

    def __iter__(self):
        if self._read and self.handed_over:
            raise RuntimeError(READ_AGAIN)
        self._read = True
        return self._make()


def list_init(self, coder_impl) -> None:
    """``ListBuffer.__init__`` whose chunks beyond ``spill.SPILL_BYTES`` go to disk."""
    BEAM_LIST_INIT(self, coder_impl)
    self._inputs = ChunkList()


def list_copy(self):
    """``ListBuffer.copy`` sharing the chunks (Beam copies the list, which would read them all back)."""
    if not isinstance(self._inputs, ChunkList):
        return BEAM_LIST_COPY(self)
    new = execution.ListBuffer(self._coder_impl)
    new._inputs = self._inputs.copy()
    return new


def partition_handed_over(self, n: int) -> list[list[bytes]]:
    """``ListBuffer.partition`` whose parts take the chunks over from the buffer. FnApiRunner
    reads a stage's input once (a second consumer has its own copy of the buffer:
    ``ListBuffer.copy``), so a buffer of 100 MiB (the stitch's flattened rows at 4M events) is
    freed as it is sent instead of living beside the group it fills. Beam's own path (fewer
    pieces than workers: re-encoded and kept) is left as it is."""
    if self.cleared or len(self._inputs) < n:
        return BEAM_LIST_PARTITION(self, n)
    chunks = self._inputs
    if isinstance(chunks, ChunkList):
        parts = [Pieces(lambda k=k: chunks.every(k, n), handed_over=True) for k in range(n)]
    else:
        parts = [HandedOver(chunks[k::n]) for k in range(n)]
    self._inputs = GONE
    return parts


def append_keyed(self, elements_data: bytes) -> None:
    """``GroupingBuffer.append`` keeping each element encoded, in the partition of its key
    (``spill.KeyedChunks``: on disk beyond a few MiB), instead of decoded in one table: the key
    is read to choose the partition; the grouping is done per partition when the group is
    sent. Windowing other than the global window (a trigger driver) is left to Beam."""
    if self._grouped_output:
        raise RuntimeError("Grouping table append after read.")
    if not self._windowing.is_default() or self._table:
        return BEAM_GROUPING_APPEND(self, elements_data)
    keyed = self.__dict__.get("_keyed")
    if keyed is None:
        keyed = self._keyed = KeyedChunks()
    decode = self._pre_grouped_coder.get_impl().decode_from_stream
    key_encode = self._key_coder.get_impl().encode
    stream = execution.create_InputStream(elements_data)
    total = len(elements_data)
    start = 0
    while stream.size() > 0:
        key = decode(stream, True).value[0]
        end = total - stream.size()
        keyed.add(key_encode(key), elements_data[start:end])
        start = end


def extend_keyed(self, input_buffer) -> None:
    """``GroupingBuffer.extend`` for groups kept as ``KeyedChunks``."""
    theirs = getattr(input_buffer, "_keyed", None)
    if theirs is None:
        return BEAM_GROUPING_EXTEND(self, input_buffer)
    if self._table or not self._windowing.is_default():
        raise RuntimeError("a spilled group cannot be merged into a decoded one (pipeline.fnapi_inputs)")
    if self.__dict__.get("_keyed") is None:
        self._keyed = KeyedChunks()
    self._keyed.extend(theirs)


def _grouped_pieces(buffer, keyed: KeyedChunks, part: int, n: int, keep: bool):
    """Worker ``part``'s share of a group kept as ``KeyedChunks``: its partitions, one at a time,
    decoded, grouped by key (in the order keys came, each key's values in the order they came)
    and encoded as Beam encodes a grouped element, in pieces of about ``PIECE_BYTES``."""
    pre = buffer._pre_grouped_coder.get_impl()
    post = buffer._post_grouped_coder.get_impl()
    key_encode = buffer._key_coder.get_impl().encode
    stream = execution.create_OutputStream()
    sent = False
    for p in range(part, PARTITIONS, n):
        data = keyed.read(p)
        if not keep:
            keyed.drop(p)
        groups: dict[bytes, tuple] = {}
        elements = execution.create_InputStream(data)
        while elements.size() > 0:
            key, value = pre.decode_from_stream(elements, True).value
            encoded_key = key_encode(key)
            group = groups.get(encoded_key)
            if group is None:
                group = groups[encoded_key] = (key, [])
            group[1].append(value)
        del data, elements
        while groups:
            post.encode_to_stream(_global_window_of(groups.pop(next(iter(groups)))), stream, True)
            if stream.size() >= PIECE_BYTES:
                yield stream.get()
                sent = True
                stream = execution.create_OutputStream()
    if stream.size() or not sent:
        yield stream.get()


def _global_window_of(pair):
    """(key, values) as the one element of its key in the global window, as Beam groups it."""
    return GlobalWindows.windowed_value(
        None, timestamp=GlobalWindow().max_timestamp(),
        pane_info=windowed_value.PaneInfo(is_first=True, is_last=True, timing=windowed_value.PaneInfoTiming.ON_TIME,
                                          index=0, nonspeculative_index=0)).with_value(pair)


def partition_in_pieces(self, n: int) -> list[list[bytes]]:
    """``GroupingBuffer.partition`` with each part as pieces of about ``PIECE_BYTES``: keys are
    dealt to the parts round-robin in the table's order, as Beam deals them. Windowing other
    than the global window (a trigger driver) is left to Beam. A buffer only one stage reads
    hands its pieces over (``partition_handed_over``); a shared one keeps them."""
    if self._grouped_output:
        return self._grouped_output
    keep = getattr(self, "shared", False) or n == 1   # read again (another stage; ``__iter__``)
    keyed = self.__dict__.get("_keyed")
    if keyed is not None:
        parts = [Pieces(lambda k=k: _grouped_pieces(self, keyed, k, n, keep), handed_over=not keep) for k in range(n)]
        self._grouped_output = parts if keep else GONE
        return parts
    if not self._windowing.is_default():
        return BEAM_PARTITION(self, n)
    coder_impl = self._post_grouped_coder.get_impl()
    key_decode = self._key_coder.get_impl().decode
    items = list(self._table.items())
    self._table.clear()   # the values now live in ``items`` only: each is dropped once encoded
    parts: list[list[bytes]] = [[] for _ in range(n)]
    streams = [execution.create_OutputStream() for _ in range(n)]
    for idx in range(len(items)):
        encoded_key, values = items[idx]
        items[idx] = None
        stream = streams[idx % n]
        coder_impl.encode_to_stream(_global_window_of((key_decode(encoded_key), values)), stream, True)
        if stream.size() >= PIECE_BYTES:
            parts[idx % n].append(stream.get())
            streams[idx % n] = execution.create_OutputStream()
    for part, stream in zip(parts, streams):
        if stream.size() or not part:
            part.append(stream.get())
    if keep:
        self._grouped_output = parts
        return parts
    self._grouped_output = GONE
    return [HandedOver(part) for part in parts]


def send_in_pieces(self, process_bundle_id: str, read_transform_id: str, byte_streams) -> None:
    """Send a bundle's input one piece a message from a thread, to a worker process; the caller
    then starts the bundle, which reads the pieces as they arrive (the data plane's bounded
    queues hold the sender back). An in-process worker gets Beam's synchronous send."""
    conn = self._worker_handler.data_conn
    if not isinstance(conn, data_plane._GrpcDataChannel):
        return BEAM_SEND(self, process_bundle_id, read_transform_id, byte_streams)
    # a handed-over list is emptied as it goes; ``Pieces`` are made as they are sent; any other
    # part (a grouped part that a second consumer may read again) is read as it is
    if isinstance(byte_streams, HandedOver):
        byte_streams.reverse()
        pieces = _popping(byte_streams)
    else:
        pieces = iter(byte_streams or [])

    def send() -> None:
        try:
            for piece in pieces:
                if piece:
                    conn._enqueue_to_send(beam_fn_api_pb2.Elements.Data(
                        instruction_id=process_bundle_id, transform_id=read_transform_id, data=piece))
            conn._enqueue_to_send(beam_fn_api_pb2.Elements.Data(
                instruction_id=process_bundle_id, transform_id=read_transform_id, is_last=True))
        except Exception:  # noqa: BLE001 -- the bundle cannot get its whole input: stop the run, loudly
            _LOGGER.exception("sending the input of %s to its worker failed", process_bundle_id)
            _thread.interrupt_main()

    threading.Thread(target=send, name=f"input-{process_bundle_id}", daemon=True).start()


def _popping(pieces: list[bytes]):
    """The pieces of a reversed list, each dropped by the list as it is taken."""
    while pieces:
        yield pieces.pop()


def stream_stage_inputs() -> None:
    """Install the changes above in this process (idempotent). Call before the runner
    starts its data channels (``pipeline.run.run`` does, when it starts worker processes).
    Beam releases other than ``WRITTEN_FOR`` keep their own data plane (one log line): more
    memory at scale, never a wrong input."""
    if beam_release() != WRITTEN_FOR:
        _LOGGER.info("Beam %s: stage inputs sent as Beam sends them (pipeline.fnapi_inputs is written for %d.%d)",
                     apache_beam.__version__, *WRITTEN_FOR)
        return
    execution.GroupingBuffer.partition = partition_in_pieces
    execution.GroupingBuffer.append = append_keyed
    execution.GroupingBuffer.extend = extend_keyed
    execution.ListBuffer.__init__ = list_init
    execution.ListBuffer.copy = list_copy
    execution.GroupingBuffer.copy = copy_shared
    execution.ListBuffer.partition = partition_handed_over
    fn_runner.BundleManager._send_input_to_worker = send_in_pieces
    bound_data_plane()


def beam_release() -> tuple[int, int]:
    major, minor = apache_beam.__version__.split(".")[:2]
    return int(major), int(minor)


def installed() -> bool:
    return execution.GroupingBuffer.partition is partition_in_pieces
