"""Benchmarks of jupyter-playground against its peers, measured in one run on one server.

    python bench/run.py              # the full run (a few minutes)
    python bench/run.py --quick      # a small version, well under a minute (CI runs this to check it works)
    python bench/run.py --json out.json

Peers (installed by `pip install -e ".[bench]"`): jupyter_client's BlockingKernelClient over ZMQ (the
floor: it talks to the kernel directly, with no server in between), nbclient (the reference for running
notebooks), jupyter-kernel-client when installed, and a plain `websockets` loop (the WebSocket path
without our delayed-ACK fix). Contenders are interleaved, so that load on the machine hits them alike.
Each line prints the median and the ratio against the peer named on it; `target` is the goal we hold
ourselves to, and the last column says whether this run met it.
"""
import argparse, asyncio, json, os, statistics, subprocess, sys, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from roundtrip import open_contenders, zmq_client, V1
from jupyter_playground.server import LocalServer
from jupyter_playground.notebooks import run_notebook, execute_cells

RESULTS = []

def med(ts): return statistics.median(ts)

def report(what, ours, peer_name, peer, target=None):
    "Record and print one comparison: medians in ms and our ratio to the peer"
    ratio = ours / peer if peer else None
    ok = '' if target is None or ratio is None else ('met' if ratio <= target else 'MISSED')
    RESULTS.append(dict(what=what, ours_ms=round(ours, 3), peer=peer_name, peer_ms=round(peer, 3) if peer else None,
                        ratio=round(ratio, 3) if ratio else None, target=target, met=ok == 'met' if ok else None))
    r = f"{ratio:6.2f}x" if ratio else '      -'
    t = f"<= {target}x" if target else ''
    print(f"| {what:<48} | {ours:10.2f} | {peer_name:<26} | {(peer or 0):10.2f} | {r} | {t:<8} | {ok:<6} |", flush=True)

def header():
    print(f"| {'benchmark':<48} | {'ours ms':>10} | {'peer':<26} | {'peer ms':>10} | {'ratio':>7} | {'target':<8} | {'':<6} |")
    print(f"|{'-'*50}|{'-'*12}|{'-'*28}|{'-'*12}|{'-'*9}|{'-'*10}|{'-'*8}|")

def bench_import(n):
    "Import time of the library, in a fresh interpreter each time"
    code = "import time; t = time.perf_counter(); import jupyter_playground.all; print((time.perf_counter() - t) * 1000)"
    ts = [float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout) for _ in range(n)]
    code_nbf = "import time; t = time.perf_counter(); import nbformat; print((time.perf_counter() - t) * 1000)"
    nbf = [float(subprocess.run([sys.executable, '-c', code_nbf], capture_output=True, text=True, check=True).stdout) for _ in range(n)]
    report('import jupyter_playground.all', med(ts), 'import nbformat', med(nbf))
    RESULTS[-1]['target_ms'] = 150
    print(f"|   (target: import under 150 ms: {'met' if med(ts) < 150 else 'MISSED'})")

def bench_server_start(n):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        with LocalServer(): ts.append((time.perf_counter() - t) * 1000)
    report('LocalServer start (until /api/status answers)', med(ts), '-', None)

def bench_roundtrip(srv, jp, kid, n, warmup):
    contenders, close = open_contenders(srv, jp, kid)
    try:
        from jupyter_kernel_client import KernelClient as KGClient  # optional peer
        kg = KGClient(server_url=jp.url, token=jp.token, kernel_id=kid); kg.start()
        contenders['jkc'] = lambda: _timed(lambda: kg.execute('1 + 1'))
    except Exception: pass  # not installed, or not able to talk to this server
    times = {c: [] for c in contenders}
    for i in range(warmup + n):
        for c, f in contenders.items():
            t = f()
            if i >= warmup: times[c].append(t * 1000)
    z = med(times['zmq'])
    report('1 + 1 round trip, Kernel (sync)', med(times['sync']), 'jupyter_client over ZMQ', z, 1.3)
    report('1 + 1 round trip, AsyncKernel', med(times['async']), 'jupyter_client over ZMQ', z, 1.3)
    report('1 + 1 round trip, plain websockets (no fix)', med(times['plain']), 'jupyter_client over ZMQ', z)
    if 'jkc' in times: report('1 + 1 round trip, jupyter-kernel-client', med(times['jkc']), 'jupyter_client over ZMQ', z)
    # the cost of the trace hook when no trace is active, and with one
    off = [contenders['sync']() * 1000 for _ in range(n)]
    with jp.trace():
        on = [contenders['sync']() * 1000 for _ in range(n)]
    report('1 + 1 round trip with jp.trace() active', med(on), 'the same, no trace', med(off))
    close()

def _timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def bench_many(srv, jp, kid, count):
    "`count` tiny executions, one after another and pipelined"
    kc = zmq_client(srv, kid)
    with jp.connect(kid) as k:
        seq = _timed(lambda: [k.execute('1', store_history=False) for _ in range(count)]) * 1000
        zseq = _timed(lambda: [kc.execute_interactive('1', store_history=False, output_hook=lambda m: None) for _ in range(count)]) * 1000
        report(f'{count} tiny executions, sequential', seq, 'jupyter_client over ZMQ', zseq)
        def threads():
            ts = [threading.Thread(target=lambda: [k.execute('1', store_history=False) for _ in range(count // 4)]) for _ in range(4)]
            for t in ts: t.start()
            for t in ts: t.join()
        pip = _timed(threads) * 1000
    def zmq_pipelined():
        ids = [kc.execute('1', store_history=False) for _ in range(count)]
        left = set(ids)
        while left: left.discard(kc.get_shell_msg(timeout=30)['parent_header'].get('msg_id'))
    zpip = _timed(zmq_pipelined) * 1000
    report(f'{count} tiny executions, pipelined (4 threads)', pip, 'jupyter_client, pipelined', zpip)
    async def agather():
        async with await jp.aconnect(kid) as ak:
            t = time.perf_counter()
            await asyncio.gather(*(ak.execute('1', store_history=False) for _ in range(count)))
            return (time.perf_counter() - t) * 1000
    report(f'{count} tiny executions, pipelined (asyncio.gather)', asyncio.run(agather()), 'jupyter_client, pipelined', zpip)
    kc.stop_channels()

def bench_big_output(srv, jp, kid, mb, n):
    "One print of `mb` MB: each contender alone on the kernel, so the server forwards the output to it only"
    code = f"print('x' * {mb * 1_000_000})"
    def zmq():
        kc = zmq_client(srv, kid)
        kc.execute_interactive('1', output_hook=lambda m: None)  # warm, untimed
        got = []
        t = _timed(lambda: kc.execute_interactive(code, output_hook=lambda m: got.append(len(m['content'].get('text', ''))), timeout=120))
        kc.stop_channels()
        assert sum(got) >= mb * 1_000_000
        return t
    def ours(subprotocol):
        with jp.connect(kid, subprotocol=subprotocol) as k:
            k.execute('1')  # warm, untimed
            res = []
            t = _timed(lambda: res.append(k.execute(code, timeout=120)))
        assert len(res[0].text) >= mb * 1_000_000
        return t
    res = {}
    for _ in range(n):
        for name, f in (('zmq', zmq), ('v1', lambda: ours(V1)), ('legacy', lambda: ours(None))):
            res.setdefault(name, []).append(f() * 1000)
    report(f'{mb} MB stream output, v1 binary framing', med(res['v1']), 'jupyter_client over ZMQ', med(res['zmq']), 1.5)
    report(f'{mb} MB stream output, legacy JSON framing', med(res['legacy']), 'jupyter_client over ZMQ', med(res['zmq']))

def bench_notebook(srv, jp, cells, n):
    "A `cells`-cell notebook: run_notebook over the wire against nbclient, with and without the kernel start"
    import nbformat
    from nbclient import NotebookClient
    srcs = [f"x{i} = {i} * 2\nprint(x{i})" if i % 3 == 0 else (f"x{i} = {i}\nx{i}" if i % 3 == 1 else f"y = [{i}] * 10\nlen(y)") for i in range(cells)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in srcs])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    (srv.root_dir/'bench.ipynb').write_text(nbformat.writes(nb))
    fresh = lambda: nbformat.reads(nbformat.writes(nb), 4)
    full, fullc, loops, loop_nbc = [], [], {0: [], 1: []}, []
    for _ in range(n):
        full.append(_timed(lambda: run_notebook(jp, 'bench.ipynb', progress=False, checkpoint=False)) * 1000)
        fullc.append(_timed(lambda: NotebookClient(fresh(), kernel_name='python3').execute()) * 1000)
        kid = jp.kernels.start('python3')['id']
        with jp.connect(kid) as k:
            k.execute('1')  # warm, untimed, as nbclient's kernel is warm after setup_kernel
            for ahead in loops: loops[ahead].append(_timed(lambda: execute_cells(k, fresh()['cells'], ahead=ahead)) * 1000)
        jp.kernels.shutdown(kid)
        c = NotebookClient(fresh(), kernel_name='python3')
        with c.setup_kernel():
            loop_nbc.append(_timed(lambda: [c.execute_cell(cell, i) for i, cell in enumerate(c.nb.cells)]) * 1000)
    report(f'{cells}-cell notebook, with kernel start and save', med(full), 'nbclient, with kernel start', med(fullc), 1.0)
    report(f'{cells}-cell notebook, cells only', med(loops[0]), 'nbclient, cells only', med(loop_nbc), 1.0)
    report(f'{cells}-cell notebook, cells only, ahead=1', med(loops[1]), 'nbclient, cells only', med(loop_nbc))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='a small version, to check that it works')
    ap.add_argument('--json', help='also write the results to this JSON file')
    ap.add_argument('--save', action='store_true', help='keep the results in bench/results/run.json, which the docs show')
    a = ap.parse_args(argv)
    q = a.quick
    print(f"jupyter-playground benchmarks{' (--quick)' if q else ''}: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    header()
    bench_import(3 if q else 7)
    bench_server_start(1 if q else 3)
    with LocalServer() as srv:
        jp = srv.client()
        kid = jp.kernels.start('python3')['id']
        bench_roundtrip(srv, jp, kid, 30 if q else 300, 5 if q else 30)
        bench_many(srv, jp, kid, 100 if q else 1000)
        bench_big_output(srv, jp, kid, 1 if q else 10, 1 if q else 5)
        jp.kernels.shutdown(kid)
        bench_notebook(srv, jp, 20 if q else 100, 1 if q else 5)
    if a.json:
        Path(a.json).write_text(json.dumps(dict(quick=q, cores=os.cpu_count(), results=RESULTS), indent=1))
        print(f"\nwrote {a.json}")
    if a.save and not q:
        import results
        print(f"\nwrote {results.save('run', RESULTS)}")
    missed = [r['what'] for r in RESULTS if r.get('met') is False]
    print(f"\ntargets: {sum(r.get('met') is True for r in RESULTS)} met, {len(missed)} missed" + (f": {missed}" if missed else ''))

if __name__ == '__main__': main()
