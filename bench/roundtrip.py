"""`1 + 1` round trip: jupyter_client over ZMQ vs our WebSocket clients vs a plain websockets loop.

Usage: python bench/roundtrip.py [N]

Starts an embedded Jupyter server and one kernel, then times N (default 300) interleaved round trips
(from sending the `execute_request` to having both the `execute_reply` and the iopub `idle`) for:

- jupyter_client's `BlockingKernelClient` talking ZMQ to the kernel directly (its connection file is
  in the server's runtime dir), the baseline;
- our `Kernel` (sync) and `AsyncKernel` over the server's WebSocket;
- a plain `websockets` sync loop over the same WebSocket, without the delayed-ACK fix.

All four share the kernel, so each also receives the others' iopub broadcasts; before each timed
round trip every client drains what is pending, untimed.
"""
import sys, time, asyncio, statistics
from jupyter_client import BlockingKernelClient, find_connection_file
from websockets.sync.client import connect as ws_connect
from jupyter_playground.server import LocalServer
from jupyter_playground.channels import V1, new_msg, to_v1, from_v1, _LEGACY

def execute_request(): return new_msg('execute_request', dict(code='1 + 1', silent=False, store_history=False, user_expressions={},
                                                              allow_stdin=False, stop_on_error=True), session='plain')

def plain_roundtrip(ws):
    "One round trip over a plain websockets connection, matching messages by parent msg_id"
    while True:  # drain, untimed
        try: ws.recv(timeout=0)
        except TimeoutError: break
    req = execute_request()
    t0 = time.perf_counter()
    ws.send(to_v1(req))
    reply = idle = False
    while not (reply and idle):
        m = from_v1(ws.recv())
        if m['parent_header'].get('msg_id') != req['header']['msg_id']: continue
        reply |= m['channel'] == 'shell'
        idle |= m['header']['msg_type'] == 'status' and m['content']['execution_state'] == 'idle'
    return time.perf_counter() - t0

def zmq_roundtrip(kc):
    while kc.iopub_channel.msg_ready(): kc.iopub_channel.get_msg(timeout=0)  # drain, untimed
    t0 = time.perf_counter()
    kc.execute_interactive('1 + 1', store_history=False, output_hook=lambda m: None, timeout=30)
    return time.perf_counter() - t0

def ours_roundtrip(k):
    t0 = time.perf_counter()
    k.execute('1 + 1', store_history=False)
    return time.perf_counter() - t0

def async_roundtrip(loop, ak):
    loop.run_until_complete(asyncio.sleep(0.002))  # let the reader task drain, untimed
    async def one():
        t0 = time.perf_counter()
        await ak.execute('1 + 1', store_history=False)
        return time.perf_counter() - t0
    return loop.run_until_complete(one())

def zmq_client(srv, kid):
    "A jupyter_client `BlockingKernelClient` talking ZMQ to kernel `kid` of `srv`, ready"
    kc = BlockingKernelClient(connection_file=find_connection_file(f'kernel-{kid}.json', path=[str(srv.runtime_dir)]))
    kc.load_connection_file(); kc.start_channels(); kc.wait_for_ready(30)
    return kc

NAMES = {'zmq': 'jupyter_client over ZMQ', 'sync': 'Kernel (ours, sync)', 'async': 'AsyncKernel (ours)', 'plain': 'plain websockets'}

def open_contenders(srv, jp, kid):
    "One `1 + 1` round-trip function per client (keys of `NAMES`) on kernel `kid`, and a function closing them all"
    k = jp.connect(kid)  # also waits until the kernel answers
    kc = zmq_client(srv, kid)
    ws = ws_connect(jp.ws_url(f'api/kernels/{kid}/channels') + '?session_id=plain', subprotocols=[V1], max_size=None,
                    compression=None, additional_headers={'Authorization': f'token {jp.token}'}, **_LEGACY)
    loop = asyncio.new_event_loop()
    ak = loop.run_until_complete(jp.aconnect(kid))
    def close():
        loop.run_until_complete(ak.close()); loop.close()
        k.close(); ws.close(); kc.stop_channels()
    return {'zmq': lambda: zmq_roundtrip(kc), 'sync': lambda: ours_roundtrip(k),
            'async': lambda: async_roundtrip(loop, ak), 'plain': lambda: plain_roundtrip(ws)}, close

def main(n=300, warmup=30, save=False):
    with LocalServer() as srv:
        jp = srv.client()
        kid = jp.kernels.start('python3')['id']
        contenders, close = open_contenders(srv, jp, kid)
        times = {name: [] for name in contenders}
        for i in range(warmup + n):
            for name, f in contenders.items():
                t = f()
                if i >= warmup: times[name].append(t * 1000)
        close()
    base = statistics.median(times['zmq'])
    print(f"`1 + 1` round trip, {n} interleaved iterations after {warmup} warm-up ones\n")
    print(f"| {'client':<24} | p50 ms | p90 ms | p50 vs ZMQ |")
    print(f"|{'-'*26}|--------|--------|------------|")
    rows = []
    for name, ts in times.items():
        p50, p90 = statistics.median(ts), statistics.quantiles(ts, n=10)[8]
        print(f"| {NAMES[name]:<24} | {p50:6.2f} | {p90:6.2f} | {p50 / base:9.2f}x |")
        rows.append(dict(client=NAMES[name], p50_ms=round(p50, 3), p90_ms=round(p90, 3), vs_zmq=round(p50 / base, 3)))
    if save:
        import results
        print(f"\nwrote {results.save('roundtrip', rows, iterations=n, warmup=warmup)}")
    return times

if __name__ == '__main__':
    args = [a for a in sys.argv[1:] if a != '--save']
    main(int(args[0]) if args else 300, save='--save' in sys.argv)
