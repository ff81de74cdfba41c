"""Faults for terminals and the event bus: connections cut (and refused) while a shell prints, a link that stays down.

Every test runs against a real `LocalServer`; the cuts go through `loopback.LoopbackProxy`. What they check is what
the notebooks cannot show without a proxy: that the terminal's history, which the server sends again on every
connection, is merged so that each line printed (also while we were away) is read exactly once.
"""
import re, time, asyncio, threading
import pytest
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import Jupyter
from jupyter_playground.execution import ConnectionLost
from jupyter_playground.terminals import Terminal, AsyncTerminal
from jupyter_playground.events import Subscription
from loopback import LoopbackProxy

SH = ['--ServerApp.terminado_settings={"shell_command": ["/bin/sh"]}']
LOOP = "i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo line$i; sleep {dt}; done; echo 'do''ne'\r"

def port_of(url:str) -> int: return int(url.rsplit(':', 1)[1].strip('/'))
def numbers(text:str) -> list: return [int(n) for n in re.findall(r'line(\d+)\r\n', text)]

@pytest.fixture(scope='module')
def srv():
    with LocalServer(extra_args=SH) as s: yield s

@pytest.fixture
def proxy(srv):
    with LoopbackProxy(port_of(srv.url)) as p: yield p

@pytest.fixture
def name(srv):
    jp = srv.client()
    n = jp.terminals.create()['name']
    yield n
    try: jp.terminals.delete(n)
    except Exception: pass

def cut_at(proxy, times, refuse_for):
    "Cut `proxy`'s connections at each of `times` seconds from now, refusing new ones for `refuse_for` s each time"
    t0 = time.monotonic()
    def run():
        for t in times:
            time.sleep(max(0, t0 + t - time.monotonic()))
            proxy.cut(refuse_for=refuse_for)
    th = threading.Thread(target=run, daemon=True); th.start()
    return th

def test_cuts_while_the_shell_prints(srv, proxy, name):
    "Three cuts, each with refused reconnects, while the shell prints 40 lines: every line once, in order"
    with Terminal(Jupyter(proxy.url, srv.token), name) as t:
        t.send(LOOP.format(n=40, dt=0.05))
        th = cut_at(proxy, (0.4, 0.9, 1.4), refuse_for=0.25)
        t.expect(r'done\r\n', timeout=30)
        th.join()
        assert numbers(t.output) == list(range(1, 41)), t.output
        assert t.reconnects >= 3
        assert t.output.count('while [') == 1  # our command line, echoed once although the history came three times
        t.send('echo $i\r'); assert t.expect(r'\d+\r\n').endswith('40\r\n')

def test_cut_while_idle_then_output(srv, proxy, name):
    "A cut while nothing happens: the next keys wait for the reconnection and reach the same shell"
    with Terminal(Jupyter(proxy.url, srv.token), name) as t:
        t.send('X=1\r'); t.expect(r'X=1\r\n')
        proxy.cut(refuse_for=0.3)
        t.send('echo $((X + 41))\r')
        assert t.expect(r'42\r\n', timeout=20).endswith('42\r\n')
        assert t.reconnects == 1

def test_async_cuts_while_the_shell_prints(srv, proxy, name):
    "The same with `AsyncTerminal`"
    async def main():
        async with AsyncTerminal(Jupyter(proxy.url, srv.token), name) as t:
            await t.send(LOOP.format(n=30, dt=0.05))
            th = cut_at(proxy, (0.4, 0.9), refuse_for=0.2)
            await t.expect(r'done\r\n', timeout=30)
            await asyncio.to_thread(th.join)
            assert numbers(t.output) == list(range(1, 31)), t.output
            assert t.reconnects >= 2
    asyncio.run(asyncio.wait_for(main(), 60))

def test_link_down_for_good(srv, proxy, name):
    "A link that stays down: reads raise `ConnectionLost` once the retries are spent, and so does typing"
    with Terminal(Jupyter(proxy.url, srv.token), name) as t:
        t.retries = (0.1, 0.2, 0.4)
        proxy.refuse(30); proxy.cut()
        t0 = time.monotonic()
        with pytest.raises(ConnectionLost, match='could not be reopened'): t.expect('never', timeout=20)
        assert time.monotonic() - t0 < 5
        with pytest.raises(ConnectionLost, match='could not be reopened'): t.send('x')
    assert name in [m['name'] for m in srv.client().terminals.ls()]  # the shell is the server's: it runs on

def test_events_cut_and_down_for_good(srv, proxy):
    "The event bus through a cut: events flow again after the reconnection; a link that stays down ends iteration with an error"
    jp = srv.client()
    with Subscription(Jupyter(proxy.url, srv.token)) as sub:
        sub.retries = (0.1, 0.2, 0.4)
        proxy.cut(refuse_for=0.2)
        deadline = time.monotonic() + 10
        while not sub.reconnects and time.monotonic() < deadline: time.sleep(0.05)
        jp.contents.save('faults.txt', 'x')
        assert sub.until(action='save', path='faults.txt')[-1]['path'] == 'faults.txt'
        proxy.refuse(30); proxy.cut()
        with pytest.raises(ConnectionLost, match='could not be reopened'):
            for _ in sub: pass
    jp.contents.delete('faults.txt')
