"""Malformed frames: a fake kernel WebSocket server on loopback sends what is not a Jupyter message, and the request
that waits gets a clear `ProtocolError` at once (never a hang until its timeout, never a struct.error or IndexError)"""
import asyncio, json, queue, struct, threading, time, warnings
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from websockets.sync.server import serve
from websockets.exceptions import ConnectionClosed
from jupyter_playground.auth import Jupyter
from jupyter_playground.channels import (Kernel, AsyncKernel, ProtocolError, KernelError, V1, new_msg,
                                         to_v1, from_v1, to_legacy, from_legacy)

TRIED = {'frames': 0, 'parsed': 0}  # frames sent by the fake server; inputs given to from_v1/from_legacy

class FakeKernelServer:
    "Just enough of jupyter_server's kernel channels (and `GET /api/kernels/<id>`); `bad` holds frames to answer the next execute with"
    def __init__(self):
        self.bad, self.conns = queue.SimpleQueue(), []
        self.server = serve(self._handler, '127.0.0.1', 0, select_subprotocol=lambda conn, offered: V1 if V1 in offered else None, process_request=self._http,
                            compression=None, max_size=None)
        self.url = f'http://127.0.0.1:{self.server.socket.getsockname()[1]}/'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _http(self, conn, request):
        if not request.path.split('?')[0].endswith('/channels'):  # the REST check that the kernel exists
            return conn.respond(200, json.dumps({'id': 'k1', 'name': 'python3', 'execution_state': 'idle'}))

    def _handler(self, ws):
        self.conns.append(ws)
        enc, dec = (to_v1, from_v1) if ws.subprotocol == V1 else (to_legacy, from_legacy)
        try:
            for frame in ws:
                req = dec(frame)
                if req['header']['msg_type'] == 'execute_request':
                    try: bad = self.bad.get_nowait()
                    except queue.Empty: bad = None
                    if isinstance(bad, tuple):  # ('after next', frames): the next request is in before the bad frames go
                        nxt = dec(ws.recv())
                        for f in bad[1]: ws.send(f); TRIED['frames'] += 1
                        self._answer(ws, enc, nxt)
                        continue
                    if bad is not None:
                        for f in (bad(req) if callable(bad) else bad): ws.send(f); TRIED['frames'] += 1
                        continue  # and no answer: the client must not wait for one
                self._answer(ws, enc, req)
        except ConnectionClosed: pass

    def _answer(self, ws, enc, req):
        t = req['header']['msg_type']
        say = lambda msg_type, content, channel: ws.send(enc(new_msg(msg_type, content, channel, parent=req)))
        say('status', {'execution_state': 'busy'}, 'iopub')
        if t == 'execute_request':
            say('stream', {'name': 'stdout', 'text': req['content']['code']}, 'iopub')
            say('execute_reply', {'status': 'ok', 'execution_count': 1}, 'shell')
        elif t.endswith('_request'): say(t.replace('_request', '_reply'), {'status': 'ok'}, req['channel'])
        say('status', {'execution_state': 'idle'}, 'iopub')

    def push(self, frame):
        "Send `frame` now, unasked, on every open connection"
        for ws in self.conns:
            try: ws.send(frame)
            except ConnectionClosed: pass

    def close(self): self.server.shutdown(); self.thread.join(5)

@pytest.fixture(scope='module')
def fake():
    f = FakeKernelServer()
    yield f
    f.close()

@pytest.fixture(scope='module')
def jp(fake): return Jupyter(fake.url, 'tok', timeout=10)

def _good(req=None, channel='iopub'):
    return new_msg('stream', {'name': 'stdout', 'text': 'x'}, channel, parent=req)

def _v1_cases():
    g = to_v1(_good())
    n = struct.unpack_from('<Q', g)[0]
    offs = list(struct.unpack_from(f'<{n}Q', g, 8))
    def with_offsets(o): return struct.pack(f'<{n + 1}Q', n, *o) + g[8 * (n + 1):]
    return {
        'truncated header': g[:5], 'truncated parts': g[:len(g) // 2], 'empty': b'', 'one byte short': g[:-1],
        'offset past the end': with_offsets([*offs[:-1], len(g) + 100]),
        'offsets decreasing': with_offsets([offs[0], offs[2], offs[1], *offs[3:]]),
        'huge offset count': struct.pack('<Q', 2**62) + g[8:],
        'zero offsets': struct.pack('<Q', 0) + g[8:],
        'text frame, not JSON': 'hello, not JSON', 'text frame, JSON': json.dumps({k: v for k, v in _good().items() if k != 'buffers'}),
        'a part not JSON': to_v1(_good()).replace(b'"stdout"', b'"stdout\x80'),  # same length: offsets still right
        'header not an object': to_v1({**_good(), 'header': [1, 2]}),
        'no msg_type': to_v1({**_good(), 'header': {'msg_id': 'x'}}),
        'channel not UTF-8': with_offsets(offs)[:8 * (n + 1)] + b'\xff' + g[8 * (n + 1) + 1:],
        'stream without its fields': lambda req: [to_v1({**_good(req), 'content': {'nothing': 1}})],
    }

def _legacy_cases():
    g = to_legacy({**_good(), 'buffers': [b'buf']})  # binary
    return {
        'not JSON': 'hello, not JSON', 'JSON list': '[1, 2, 3]', 'JSON number': '42', 'JSON object, no message': '{"a": 1}',
        'no parent_header': json.dumps({'header': {'msg_type': 'stream'}, 'metadata': {}, 'content': {}, 'channel': 'iopub'}),
        'parent msg_id not a string': json.dumps({**{k: v for k, v in _good().items() if k != 'buffers'}, 'parent_header': {'msg_id': [1]}}),
        'deeply nested': '[' * 200_000,
        'binary, truncated': g[:3], 'binary, huge count': b'\xff\xff\xff\xff' + g[4:],
        'binary, offsets decreasing': g[:4] + struct.pack('!I', len(g) + 1) + g[8:],
        'binary, JSON part cut': g[:len(g) // 2],
        'stream without its fields': lambda req: [to_legacy({**_good(req), 'content': {'name': 'stdout'}})],
    }

CASES = [(V1, k, v) for k, v in _v1_cases().items()] + [(None, k, v) for k, v in _legacy_cases().items()]

@pytest.mark.parametrize('proto,case', [(p, c) for p, c, _ in CASES], ids=[f"{'v1' if p else 'legacy'}-{c}" for p, c, _ in CASES])
def test_bad_frame_fails_the_request_at_once(fake, jp, proto, case):
    frame = dict(_v1_cases() if proto else _legacy_cases())[case]
    with Kernel(jp, 'k1', subprotocol=proto) as k:
        assert k.subprotocol == proto
        fake.bad.put([frame] if not callable(frame) else frame)
        t0 = time.monotonic()
        with pytest.raises(ProtocolError) as ei: k.execute('print(1)', timeout=30)
        assert time.monotonic() - t0 < 3, 'an error at once, not at the timeout'
        msg = str(ei.value)
        assert 'kernel k1' in msg and ('not a Jupyter message' in msg or 'without its fields' in msg), msg
        assert ei.value.execution is not None
        # the connection is still usable
        assert k.execute('after').text == 'after'

def test_async_kernel_both_framings(fake, jp):
    async def main():
        for proto, case, frame in CASES:
            async with AsyncKernel(jp, 'k1', subprotocol=proto) as ak:
                fake.bad.put([frame] if not callable(frame) else frame)
                t0 = time.monotonic()
                with pytest.raises(ProtocolError, match='not a Jupyter message|without its fields'): await ak.execute('x', timeout=30)
                assert time.monotonic() - t0 < 3, case
                assert (await ak.execute('after')).text == 'after'
    asyncio.run(main())

def test_one_bad_frame_fails_every_waiting_request(fake, jp):
    "nobody can tell whose frame it was, so nothing is silently lost: every waiting request hears of it"
    with Kernel(jp, 'k1') as k:
        fake.bad.put(('after next', [b'\x01garbage']))  # sent once both requests are in, so both are waiting
        a = k.submit('first')
        b = k.submit('second')  # answered in full by the server, after the bad frame
        with pytest.raises(ProtocolError): k.wait(a, timeout=10)
        with pytest.raises(ProtocolError): k.wait(b, timeout=10)
        assert k.execute('third').text == 'third'

def test_bad_frame_while_idle_warns(fake, jp):
    with Kernel(jp, 'k1') as k, warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        fake.push(b'\x02 nothing waits for this')
        end = time.monotonic() + 5
        while not any('not a Jupyter message' in str(x.message) for x in w) and time.monotonic() < end: time.sleep(0.02)
        assert any(issubclass(x.category, RuntimeWarning) and 'not a Jupyter message' in str(x.message) for x in w)
        assert k.execute('fine').text == 'fine'

# pure functions: any input gives a message or a ValueError, nothing else
frames = st.one_of(st.binary(max_size=300), st.text(max_size=300),
                   st.builds(lambda n, rest: struct.pack('<Q', n) + rest, st.integers(0, 2**64 - 1), st.binary(max_size=200)),
                   st.builds(lambda n, rest: struct.pack('!I', n) + rest, st.integers(0, 2**32 - 1), st.binary(max_size=200)),
                   st.builds(lambda m, i: to_v1(m)[:i], st.just(new_msg('status', {'execution_state': 'idle'}, 'iopub')), st.integers(0, 400)))

@settings(max_examples=600, deadline=None)
@given(frame=frames)
def test_parsers_raise_only_value_error(frame):
    for parse in (from_v1, from_legacy):
        TRIED['parsed'] += 1
        try: msg = parse(frame)
        except ValueError as e: assert str(e)
        else: assert isinstance(msg['header']['msg_type'], str)

@pytest.fixture(scope='module')
def sync_kernels(jp):
    ks = {p: Kernel(jp, 'k1', subprotocol=p) for p in (V1, None)}
    yield ks
    for k in ks.values(): k.close()

@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.one_of(st.binary(max_size=200), st.text(max_size=200)), proto=st.sampled_from([V1, None]))
def test_arbitrary_frames_never_hang(fake, sync_kernels, frame, proto):
    k = sync_kernels[proto]
    fake.bad.put([frame])
    t0 = time.monotonic()
    with pytest.raises(ProtocolError): k.execute('x', timeout=10)
    assert time.monotonic() - t0 < 3

@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.one_of(st.binary(max_size=200), st.text(max_size=200)), min_size=1, max_size=20), proto=st.sampled_from([V1, None]))
def test_arbitrary_frames_never_hang_async(fake, jp, batch, proto):
    async def main():
        async with AsyncKernel(jp, 'k1', subprotocol=proto) as ak:
            for frame in batch:
                fake.bad.put([frame])
                t0 = time.monotonic()
                with pytest.raises(ProtocolError): await ak.execute('x', timeout=10)
                assert time.monotonic() - t0 < 3
    asyncio.run(main())

@pytest.fixture(scope='module', autouse=True)
def _report(counts):
    yield
    counts('malformed frames', f"{TRIED['frames']} sent by a fake server, {TRIED['parsed']} random inputs parsed")
