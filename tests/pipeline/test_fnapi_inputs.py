"""With worker processes, FnApiRunner sends a stage's input in pieces while the bundle runs
(pipeline.fnapi_inputs): the same elements, in the same order, never one message of a
worker's whole share; the data plane's send queues are bounded."""

import apache_beam as beam
import pytest
from apache_beam.coders import coders
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import execution, fn_runner
from apache_beam.runners.worker import data_plane
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import core

from pipeline import fnapi_inputs, spill
from pipeline.beam_worker import FLUSH_BYTES, SEND_QUEUE_BYTES, bound_data_plane
from pipeline.run import RunConfig, beam_runner


def _grouping_buffer(keys: int, values_per_key: int) -> execution.GroupingBuffer:
    pre = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()]))
    post = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.IterableCoder(coders.BytesCoder())]))
    buf = execution.GroupingBuffer(pre, post, core.Windowing(beam.window.GlobalWindows()))
    stream = execution.create_OutputStream()
    for k in range(keys):
        for v in range(values_per_key):
            pre.get_impl().encode_to_stream(
                beam.transforms.window.GlobalWindows.windowed_value((f"key-{k}", bytes([v % 251]) * 300)), stream, True)
    fnapi_inputs.BEAM_GROUPING_APPEND(buf, stream.get())   # Beam's decoded table (also once installed)
    return buf, post


def _keyed_buffer(keys: int, values_per_key: int):
    """The same group as ``_grouping_buffer``, appended the installed way: kept encoded, by key."""
    pre = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.BytesCoder()]))
    post = coders.WindowedValueCoder(coders.TupleCoder([coders.StrUtf8Coder(), coders.IterableCoder(coders.BytesCoder())]))
    buf = execution.GroupingBuffer(pre, post, core.Windowing(beam.window.GlobalWindows()))
    for k in range(keys):
        stream = execution.create_OutputStream()
        for v in range(values_per_key):
            pre.get_impl().encode_to_stream(
                beam.transforms.window.GlobalWindows.windowed_value((f"key-{k}", bytes([v % 251]) * 300)), stream, True)
        fnapi_inputs.append_keyed(buf, stream.get())
    return buf, post


def _decode(pieces: list[bytes], coder) -> list:
    impl = coder.get_impl()
    return [(wv.value[0], list(wv.value[1]), wv.windows, wv.timestamp, wv.pane_info)
            for piece in pieces for wv in impl.decode_all(piece)]


def test_pieces_hold_the_same_elements_in_the_same_order(monkeypatch):
    monkeypatch.setattr(fnapi_inputs, "PIECE_BYTES", 20_000)
    ours, post = _grouping_buffer(200, 7)
    beams, _ = _grouping_buffer(200, 7)
    pieces = fnapi_inputs.partition_in_pieces(ours, 2)
    whole = fnapi_inputs.BEAM_PARTITION(beams, 2)
    assert len(pieces) == 2 and all(len(part) == 1 for part in whole)
    for part, reference in zip(pieces, whole):
        assert len(part) >= 10                             # cut into many messages...
        assert max(map(len, part)) < 20_000 + 3_000        # ...each about PIECE_BYTES (plus one element)
        assert _decode(part, post) == _decode(reference, post)   # ...holding Beam's elements
    assert all(isinstance(part, fnapi_inputs.HandedOver) for part in pieces)
    with pytest.raises(RuntimeError, match="read again"):        # handed over: never silently empty
        list(ours)


def test_a_group_two_stages_read_keeps_its_pieces(monkeypatch):
    monkeypatch.setattr(fnapi_inputs, "PIECE_BYTES", 20_000)
    shared, post = _grouping_buffer(50, 7)
    assert fnapi_inputs.copy_shared(shared) is shared            # Beam: one buffer, two consumers
    pieces = fnapi_inputs.partition_in_pieces(shared, 2)
    assert not any(isinstance(part, fnapi_inputs.HandedOver) for part in pieces)
    assert fnapi_inputs.partition_in_pieces(shared, 2) is pieces
    assert len(_decode([b for part in pieces for b in part], post)) == 50


def test_a_list_buffer_hands_its_pieces_over_to_the_parts():
    buf = execution.ListBuffer(coders.BytesCoder().get_impl())
    fnapi_inputs.BEAM_LIST_INIT(buf, coders.BytesCoder().get_impl())   # a plain list (also once installed)
    pieces = [bytes([i]) * 10 for i in range(7)]
    for piece in pieces:
        buf.append(piece)
    parts = fnapi_inputs.partition_handed_over(buf, 2)
    assert parts == [pieces[0::2], pieces[1::2]]               # Beam's parts...
    assert all(isinstance(part, fnapi_inputs.HandedOver) for part in parts)
    with pytest.raises(RuntimeError, match="read again"):        # ...no longer held by the buffer
        list(buf)
    few = execution.ListBuffer(coders.BytesCoder().get_impl())
    fnapi_inputs.BEAM_LIST_INIT(few, coders.BytesCoder().get_impl())
    few.append(coders.BytesCoder().get_impl().encode_nested(b"x"))
    assert not isinstance(fnapi_inputs.partition_handed_over(few, 2)[0], fnapi_inputs.HandedOver)  # Beam's own


def test_an_empty_buffer_gives_one_empty_piece_per_worker():
    buf, _ = _grouping_buffer(0, 0)
    assert fnapi_inputs.partition_in_pieces(buf, 2) == [[b""], [b""]]


def test_a_group_kept_by_key_gives_beams_groups(monkeypatch):
    """Appended encoded by key (on disk past spill.SPILL_BYTES) and grouped per partition as it
    is sent: every key once, with its values in the order they came, as Beam's table gives."""
    monkeypatch.setattr(fnapi_inputs, "PIECE_BYTES", 20_000)
    monkeypatch.setattr(spill, "SPILL_BYTES", 50_000)
    ours, post = _keyed_buffer(200, 7)
    beams, _ = _grouping_buffer(200, 7)
    assert ours._keyed._file is not None and not ours._table                # on disk, no decoded table
    parts = fnapi_inputs.partition_in_pieces(ours, 2)
    reference = sorted(_decode(fnapi_inputs.BEAM_PARTITION(beams, 1)[0], post))
    pieces = [list(part) for part in parts]
    assert sorted(_decode(pieces[0] + pieces[1], post)) == reference
    assert all(len(p) >= 10 and max(map(len, p)) < 20_000 + 3_000 for p in pieces)   # in pieces
    with pytest.raises(RuntimeError, match="read again"):                   # handed over: read once
        list(parts[0])
    with pytest.raises(RuntimeError, match="read again"):
        list(ours)


def test_a_shared_group_kept_by_key_is_read_again():
    shared, post = _keyed_buffer(30, 3)
    fnapi_inputs.copy_shared(shared)
    parts = fnapi_inputs.partition_in_pieces(shared, 2)
    first = [list(part) for part in parts]
    assert [list(part) for part in parts] == first
    assert len(_decode(list(shared), post)) == 30                            # ``__iter__``: every key


def test_a_list_buffer_past_spill_bytes_sends_its_chunks_from_disk(monkeypatch):
    monkeypatch.setattr(spill, "SPILL_BYTES", 1000)
    buf = execution.ListBuffer(coders.BytesCoder().get_impl())
    fnapi_inputs.list_init(buf, coders.BytesCoder().get_impl())
    pieces = [bytes([i]) * 300 for i in range(20)]
    for piece in pieces:
        buf.append(piece)
    assert buf._inputs.spilled_bytes >= 4000
    copy = fnapi_inputs.list_copy(buf)
    parts = fnapi_inputs.partition_handed_over(buf, 2)
    assert [list(part) for part in parts] == [pieces[0::2], pieces[1::2]]   # Beam's parts, from disk
    with pytest.raises(RuntimeError, match="read again"):
        list(parts[1])
    assert list(copy) == pieces                                              # a copy keeps them all


def test_worker_processes_get_their_input_in_pieces(monkeypatch, spill_files):
    """A real FnApiRunner with two worker processes (pipeline.beam_worker), its grouped input
    cut into pieces of 4 KiB: every element arrives, grouped as before."""
    cfg = RunConfig(inputs=[], direct_num_workers=2)
    runner = beam_runner(cfg)
    assert fnapi_inputs.installed()
    assert data_plane._DEFAULT_SEND_QUEUE_MAX_BYTES == SEND_QUEUE_BYTES
    monkeypatch.setattr(fnapi_inputs, "PIECE_BYTES", 4096)
    monkeypatch.setattr(spill, "SPILL_BYTES", 64 << 10)   # the runner's buffers go to disk at 64 KiB
    sent = []
    real_enqueue = data_plane._GrpcDataChannel._enqueue_to_send

    def counting(self, element):
        if isinstance(element, beam.portability.api.beam_fn_api_pb2.Elements.Data) and element.data:
            sent.append(len(element.data))
        return real_enqueue(self, element)

    monkeypatch.setattr(data_plane._GrpcDataChannel, "_enqueue_to_send", counting)
    expected = [(k, sorted(f"{k}-{v}-" + "x" * 200 for v in range(40))) for k in range(300)]
    with beam.Pipeline(runner=runner, options=PipelineOptions(["--direct_num_workers=2"])) as p:
        grouped = (p | beam.Create([(k, f"{k}-{v}-" + "x" * 200) for k in range(300) for v in range(40)])
                   | beam.GroupByKey() | beam.MapTuple(lambda k, vs: (k, sorted(vs))))
        assert_that(grouped, equal_to(expected))
    # the 300 groups (8.3 KB each) went one piece each, not as two messages of 1.2 MB
    # (the larger messages: Create's halves, and assert_that's one group of everything)
    assert sum(1 for n in sent if n < 4096 + 8_400) >= 300
    assert spill_files and sum(f.size for f in spill_files) >= 2_500_000   # the group (2.5 MB) went through disk


def test_output_buffers_flush_at_a_mebibyte():
    """Worker outputs go out at FLUSH_BYTES (Beam: 10 MiB per output of a fused stage, each
    buffer keeping its largest size); time-based streams stay Beam's."""
    bound_data_plane()
    bound_data_plane()   # idempotent: one wrapper, not a wrapper of a wrapper
    flushed = []
    out = data_plane.ClosableOutputStream.create(lambda data: None, flushed.append, 0)
    assert isinstance(out, data_plane.SizeBasedBufferingClosableOutputStream)
    for _ in range(3):
        out.write(b"x" * (FLUSH_BYTES // 2 + 1))
        out.maybe_flush()
    assert [len(b) for b in flushed] == [FLUSH_BYTES + 2]
    timed = data_plane.ClosableOutputStream.create(lambda data: None, flushed.append, 50)
    assert isinstance(timed, data_plane.TimeBasedBufferingClosableOutputStream)
    timed.close()


def test_another_beam_release_keeps_beams_own_data_plane(monkeypatch, caplog):
    """The replaced functions follow one release's internals: on another, Beam's stay, one line says so."""
    monkeypatch.setattr(execution.GroupingBuffer, "partition", fnapi_inputs.BEAM_PARTITION)
    monkeypatch.setattr(execution.ListBuffer, "partition", fnapi_inputs.BEAM_LIST_PARTITION)
    monkeypatch.setattr(fn_runner.BundleManager, "_send_input_to_worker", fnapi_inputs.BEAM_SEND)
    monkeypatch.setattr(execution.GroupingBuffer, "append", fnapi_inputs.BEAM_GROUPING_APPEND)
    monkeypatch.setattr(execution.ListBuffer, "__init__", fnapi_inputs.BEAM_LIST_INIT)
    monkeypatch.setattr(beam, "__version__", "2.78.0")
    with caplog.at_level("INFO", logger="pipeline.fnapi_inputs"):
        fnapi_inputs.stream_stage_inputs()
    assert not fnapi_inputs.installed()
    assert execution.ListBuffer.partition is fnapi_inputs.BEAM_LIST_PARTITION
    assert execution.GroupingBuffer.append is fnapi_inputs.BEAM_GROUPING_APPEND
    assert "Beam 2.78.0" in caplog.text
    monkeypatch.setattr(beam, "__version__", "2.77.1")
    fnapi_inputs.stream_stage_inputs()
    assert fnapi_inputs.installed()
