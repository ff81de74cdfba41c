"""Faults: a cut WebSocket, a killed kernel, a killed or restarted server, a slow link, the IOPub rate limit.

Every test runs against a real `LocalServer`; the network faults go through `loopback.LoopbackProxy`.
Each test counts the faults it injects with `inject()` and calls `survived()` once every check passed;
the run's summary shows the totals ("faults: N injected, N survived").
"""
import os, time, signal, asyncio, threading
from pathlib import Path
from collections import Counter
import pytest, nbformat
from fastcore.net import free_port
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import Jupyter, ServerUnavailable
from jupyter_playground.channels import KernelDied, ConnectionLost, ExecutionTimeout, IOPubRateLimitWarning
from jupyter_playground.notebooks import run_notebook
from loopback import LoopbackProxy

# ---------------------------------------------------------------- counting
INJECTED, SURVIVED, _current = Counter(), Counter(), {}

def inject(kind:str, n:int=1):
    "Count `n` faults of `kind` injected by the running test"
    INJECTED[kind] += n; _current.setdefault('faults', Counter())[kind] += n

def survived():
    "The running test checked everything after its faults: count them as survived"
    SURVIVED.update(_current.pop('faults', Counter()))

@pytest.fixture(autouse=True)
def _count(): _current.clear(); yield; _current.clear()

@pytest.fixture(scope='module', autouse=True)
def _report(counts):
    yield
    counts('faults', f"{sum(INJECTED.values())} injected, {sum(SURVIVED.values())} survived "
                     f"({', '.join(f'{k} {SURVIVED[k]}/{v}' for k,v in sorted(INJECTED.items()))})")

# ---------------------------------------------------------------- helpers
def kernel_pid(kernel_id:str) -> int:
    "The pid of the process running kernel `kernel_id` (its command line names its connection file)"
    for p in Path('/proc').iterdir():
        if not p.name.isdigit(): continue
        try: cmd = (p/'cmdline').read_bytes()
        except OSError: continue
        if f'kernel-{kernel_id}.json'.encode() in cmd: return int(p.name)
    raise LookupError(f"no process runs kernel {kernel_id}")

def kill(pid:int):
    try: os.kill(pid, signal.SIGKILL)
    except ProcessLookupError: pass

def port_of(url:str) -> int: return int(url.rsplit(':', 1)[1].strip('/'))

def numbered(n:int, dt:float) -> str:
    "Code that prints `0` to `n-1`, one line every `dt` seconds"
    return f"import time\nfor i in range({n}):\n    print(i, flush=True)\n    time.sleep({dt})"

def replayed(srv) -> int:
    "How many times `srv` replayed buffered messages to a reconnecting session (its log says so)"
    return srv.log(100_000).count('Replaying')

def lines(n:int) -> str: return ''.join(f'{i}\n' for i in range(n))

class Cutter:
    "An `on_output` callback that cuts `proxy` when a live line (not part of a replayed burst) reaches each of `at`"
    def __init__(self, proxy, at, refuse_for=0.3, gap=0.05):
        self.proxy,self.at,self.refuse_for,self.gap,self.seen,self.last,self.cut = proxy,sorted(at),refuse_for,gap,-1,0.,0
    def __call__(self, out):
        now, live = time.monotonic(), time.monotonic() - self.last > self.gap
        self.last = now
        if out.get('name') != 'stdout' or not out['text'].split(): return  # a line may come in two messages: '3', then '\n'
        self.seen = int(out['text'].split()[-1])
        if self.at and self.seen >= self.at[0] and live:
            self.at.pop(0)
            self.cut += self.proxy.cut(refuse_for=self.refuse_for)
            inject('websocket cut')

def bounded(f, limit:float, *args, **kwargs):
    "Run `f`, raising if it takes longer than `limit` seconds (it runs in a thread so a hang fails the test)"
    res = {}
    def run():
        try: res['value'] = f(*args, **kwargs)
        except BaseException as e: res['error'] = e
    t0, th = time.monotonic(), threading.Thread(target=run, daemon=True)
    th.start(); th.join(limit)
    assert not th.is_alive(), f"{getattr(f, '__name__', f)} hung: still running after {limit} s"
    res['elapsed'] = time.monotonic() - t0
    return res

# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def srv():
    with LocalServer() as s: yield s

@pytest.fixture
def proxy(srv):
    with LoopbackProxy(port_of(srv.url)) as p: yield p

@pytest.fixture
def kid(srv):
    jp = srv.client()
    k = jp.kernels.start()['id']
    yield k
    try: jp.kernels.shutdown(k)
    except Exception: pass

# ---------------------------------------------------------------- 0. the proxy itself
def test_loopback_proxy(srv):
    "The proxy forwards, records, delays each direction, cuts, refuses, and closes with its one thread"
    ours = lambda: [t for t in threading.enumerate() if t.name.startswith('loopback-')]
    before = len(ours())
    with LoopbackProxy(port_of(srv.url), record=True) as p:
        jps = [Jupyter(p.url, srv.token) for _ in range(8)]
        assert all(j.status()['kernels'] >= 0 for j in jps)
        assert len(ours()) == before + 1  # one thread, however many connections
        assert p.open_connections == 8 and b'GET /api/status' in p.sent[0] and b'HTTP/1.1 200' in p.received[0]
        assert p.cut() == 8 and p.open_connections == 0
        assert jps[0].status()  # requests reconnects on its own
        p.set_latency(0.3, 0.2)
        t0 = time.monotonic(); jps[1].status(); took = time.monotonic() - t0
        assert 0.5 <= took < 5, took  # a new connection: SYN is not delayed, the request and its reply are
        p.cut(refuse_for=30)
        with pytest.raises(ServerUnavailable): jps[2].status()
        assert p.refused >= 1
    assert len(ours()) == before

# ---------------------------------------------------------------- 1. the WebSocket cut mid-execution
def test_cut_mid_execution_loses_nothing(srv, proxy, kid):
    "One cut while a cell prints: the client reconnects with its session id and the server replays what it buffered"
    jp = Jupyter(proxy.url, srv.token)
    with jp.connect(kid) as k:
        sid, cutter, replays = k.session_id, Cutter(proxy, [4], refuse_for=0.4), replayed(srv)
        ex = k.execute(numbered(16, 0.1), timeout=30, on_output=cutter)
        assert ex.status == 'ok'
        assert ex.text == lines(16), ex.text  # every line, once, in order, including those printed while we were away
        assert cutter.cut >= 1 and k.reconnects >= 1 and k.session_id == sid
        assert replayed(srv) > replays  # the lines printed while we were away came from the server's replay buffer
        assert k.execute('1 + 1').text == '2'
    survived()

def test_several_cuts_in_a_row(srv, proxy, kid):
    "Three cuts during one execution, each with refused reconnects"
    jp = Jupyter(proxy.url, srv.token)
    with jp.connect(kid) as k:
        cutter = Cutter(proxy, [3, 11, 19], refuse_for=0.25)
        ex = k.execute(numbered(26, 0.1), timeout=30, on_output=cutter)
        assert ex.text == lines(26), ex.text
        assert cutter.cut >= 3 and k.reconnects >= 3
        assert k.execute('i').text == '25'
    survived()

def test_cut_mid_execution_async(srv, proxy, kid):
    "The same with `AsyncKernel`"
    jp = Jupyter(proxy.url, srv.token)
    async def main():
        k = await jp.aconnect(kid)
        try:
            cutter = Cutter(proxy, [3, 10], refuse_for=0.3)
            ex = await k.execute(numbered(16, 0.1), timeout=30, on_output=cutter)
            assert ex.text == lines(16), ex.text
            assert cutter.cut >= 2 and k.reconnects >= 2
            assert (await k.execute('1 + 1')).text == '2'
        finally: await k.close()
    asyncio.run(asyncio.wait_for(main(), 60))
    survived()

def test_cut_and_refused_for_good(srv, proxy, kid):
    "A link that stays down: `ConnectionLost` once the retries are spent, no hang, and a message that says so"
    jp = Jupyter(proxy.url, srv.token)
    with jp.connect(kid) as k:
        k.retries = (0.1, 0.2, 0.4)
        proxy.refuse(30); proxy.cut(); inject('websocket cut, link down')
        r = bounded(k.execute, 15, 'import time; time.sleep(1)')
        assert isinstance(r.get('error'), ConnectionLost), r
        assert 'could not be reopened' in str(r['error'])
        assert r['elapsed'] < 10
    survived()

# ---------------------------------------------------------------- 2. the kernel killed
def test_kernel_exits_from_inside(srv, kid):
    "`os._exit(1)` in the code: `KernelDied` within seconds; the server restarts the kernel and the connection recovers"
    with srv.client().connect(kid) as k:
        k.execute('x = 1')
        inject('kernel os._exit')
        r = bounded(k.execute, 30, 'import os; os._exit(1)')
        assert isinstance(r.get('error'), KernelDied), r
        assert 'died' in str(r['error'])
        assert r['elapsed'] < 15, r['elapsed']
        print(f"os._exit -> KernelDied after {r['elapsed']:.2f} s")
        assert k.execute('1 + 1', timeout=30).text == '2'                # the restarted kernel answers
        assert k.execute('x', timeout=30).error['ename'] == 'NameError'  # with its state gone
    survived()

def test_kernel_sigkilled(srv, kid):
    "SIGKILL to the kernel's process while it runs a cell: `KernelDied` within seconds"
    with srv.client().connect(kid) as k:
        pid = kernel_pid(kid)
        t = threading.Timer(1.0, lambda: (kill(pid), _killed.append(time.monotonic())))
        _killed = []
        t.start(); inject('kernel SIGKILL')
        r = bounded(k.execute, 30, 'import time; time.sleep(60)')
        t.cancel()
        assert isinstance(r.get('error'), KernelDied), r
        since_kill = time.monotonic() - _killed[0]
        assert since_kill < 15, since_kill
        print(f"SIGKILL -> KernelDied after {since_kill:.2f} s")
        assert k.execute('1 + 1', timeout=30).text == '2'
    survived()

def test_run_notebook_kernel_dies_at_cell_3(srv):
    "`run_notebook` on a notebook whose 3rd cell kills the kernel: cells 1-2 are saved, a clear error is raised"
    jp = srv.client()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in
                                         ("a = 1\nprint('one')", "print('two')", "import os; os._exit(1)", "print('four')")])
    nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    jp.contents.save('dies.ipynb', nb)
    inject('kernel os._exit in run_notebook')
    r = bounded(run_notebook, 60, jp, 'dies.ipynb', progress=False)
    e = r.get('error')
    assert isinstance(e, KernelDied), r
    assert 'died' in str(e)
    cells = jp.contents.get('dies.ipynb')['content']['cells']
    assert [o['text'] for o in cells[0]['outputs']] == ['one\n']
    assert [o['text'] for o in cells[1]['outputs']] == ['two\n']
    assert cells[0]['execution_count'] == 1 and cells[1]['execution_count'] == 2
    assert cells[3]['outputs'] == []
    assert not [s for s in jp.sessions.ls() if s['path'] == 'dies.ipynb']  # its session was closed
    survived()

# ---------------------------------------------------------------- 3. the server killed mid-run
@pytest.fixture
def doomed():
    "A server of its own for a test to kill; its kernels are killed at the end too"
    s = LocalServer().start()
    s.kernel_pids = []
    yield s
    for pid in s.kernel_pids: kill(pid)
    s.stop()

def test_server_killed_during_execute(doomed):
    jp = doomed.client()
    kid = jp.kernels.start()['id']
    doomed.kernel_pids.append(kernel_pid(kid))
    with jp.connect(kid) as k:
        threading.Timer(1.0, kill, (doomed.pid,)).start(); inject('server SIGKILL')
        r = bounded(k.execute, 30, 'import time; time.sleep(60)')
        e = r.get('error')
        assert isinstance(e, ConnectionLost), r
        assert 'could not be reopened' in str(e) and 'nothing answers' in str(e), str(e)
        assert r['elapsed'] < 16, r['elapsed']
        print(f"server SIGKILL -> ConnectionLost after {r['elapsed'] - 1:.2f} s")
    survived()

def test_server_killed_during_run_notebook(doomed, monkeypatch):
    jp = doomed.client()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ("print('one')", "import time; time.sleep(60)")])
    jp.contents.save('long.ipynb', nb)
    from jupyter_playground.channels import BaseKernel
    monkeypatch.setattr(BaseKernel, 'retries', (0.1, 0.2, 0.5, 1))  # give up sooner than the default 7.8 s
    def kill_when_running():
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                ks = jp.kernels.ls()
                if ks and ks[0]['execution_state'] == 'busy':
                    doomed.kernel_pids.append(kernel_pid(ks[0]['id'])); break
            except Exception: pass
            time.sleep(0.2)
        time.sleep(0.5); kill(doomed.pid)
    threading.Thread(target=kill_when_running, daemon=True).start(); inject('server SIGKILL in run_notebook')
    r = bounded(run_notebook, 40, jp, 'long.ipynb', progress=False)
    e = r.get('error')
    assert isinstance(e, (ConnectionLost, ServerUnavailable)), r
    msg = str(e) + ' '.join(getattr(e, '__notes__', []))
    assert 'nothing answers' in msg, msg
    assert 'could not be saved' in msg, msg
    assert r['elapsed'] < 30
    print(f"server SIGKILL in run_notebook -> {type(e).__name__} after {r['elapsed']:.2f} s: {msg}")
    survived()

# ---------------------------------------------------------------- 4. the server restarted on the same port
def test_server_restarted_on_same_port(tmp_path):
    port, token = free_port(), 'fault-suite-token-' + os.urandom(8).hex()
    s1 = LocalServer(root_dir=tmp_path, port=port, token=token).start()
    s2 = None
    try:
        assert port_of(s1.url) == port
        jp = Jupyter(s1.url, token)
        jp.contents.save('kept.txt', 'still here')
        kid = jp.kernels.start()['id']
        k = jp.connect(kid)
        k.execute('x = 1')
        t0 = time.monotonic()
        s1.stop(); inject('server restart')
        s2 = LocalServer(root_dir=tmp_path, port=port, token=token).start()
        print(f"server restarted on the same port in {time.monotonic() - t0:.2f} s")
        assert s2.url == jp.url
        # REST through the same client object keeps working
        assert jp.status()['kernels'] == 0
        assert jp.contents.get('kept.txt')['content'] == 'still here'
        # the kernel died with the first server: said clearly, no hang
        r = bounded(k.execute, 30, 'x')
        assert isinstance(r.get('error'), KernelDied), r
        assert 'gone' in str(r['error']) or 'shut down' in str(r['error'])
        print(f"after the restart, execute -> KernelDied in {r['elapsed']:.2f} s: {r['error']}")
        assert r['elapsed'] < 15
        k.close()
        k2 = jp.connect(jp.kernels.start()['id'])  # and a new kernel works
        assert k2.execute('1 + 1').text == '2'
        k2.close()
    finally:
        s1.stop()
        if s2: s2.stop()
    survived()

# ---------------------------------------------------------------- 5. a slow link
def test_slow_link_keeps_timeouts_honest(srv, kid):
    with LoopbackProxy(port_of(srv.url), latency=(0.15, 0.25)) as proxy:
        inject('slow link')
        jp = Jupyter(proxy.url, srv.token)
        t0 = time.monotonic(); k = jp.connect(kid); t_connect = time.monotonic() - t0
        try:
            assert k.execute('import time; time.sleep(0.5); 1 + 1', timeout=5).text == '2'
            t0 = time.monotonic()
            with pytest.raises(ExecutionTimeout) as ei: k.execute('time.sleep(30)', timeout=2)
            took = time.monotonic() - t0
            assert 2 <= took < 2 + k.grace + 3, took
            assert ei.value.execution.error['ename'] == 'KeyboardInterrupt'  # the kernel was interrupted
            assert k.execute('1 + 1', timeout=10).text == '2'            # and is still usable
            assert jp.kernels.get(kid)['id'] == kid
            jp.contents.save('slow.txt', 'x' * 100_000)
            assert jp.contents.get('slow.txt')['content'] == 'x' * 100_000
            print(f"slow link: connect {t_connect:.2f} s, timeout=2 raised after {took:.2f} s")
        finally: k.close()
    survived()

# ---------------------------------------------------------------- 6. the IOPub rate limit
def test_iopub_rate_limit_warns():
    args = ['--ZMQChannelsWebsocketConnection.limit_rate=True', '--ZMQChannelsWebsocketConnection.iopub_msg_rate_limit=50',
            '--ZMQChannelsWebsocketConnection.rate_limit_window=1']
    with LocalServer(extra_args=args) as s:
        jp = s.client()
        kid = jp.kernels.start()['id']
        with jp.connect(kid) as k:
            inject('IOPub rate limit')
            with pytest.warns(IOPubRateLimitWarning, match='rate exceeded'):
                ex = k.execute('for i in range(1000): print(i, flush=True)', timeout=60)
            assert ex.status == 'ok'
            out = ''.join(o['text'] for o in ex.outputs if o.get('name') == 'stdout').split()
            n = next((i for i,v in enumerate(out) if v != str(i)), len(out))
            assert 10 <= n < 1000, n  # the lines before the server started dropping are all there, in order
            assert any('IOPub message rate exceeded' in o.get('text', '') for o in ex.outputs)
            assert k.execute('1 + 1').text == '2'
    survived()
