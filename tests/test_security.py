"Security: the token travels only in `Authorization` headers (seen through a recording proxy), the server listens on loopback only, and no repr, error, trace, log or docs page shows the token"
import re, asyncio, json, secrets, traceback
from pathlib import Path
import pytest
from fastcore.net import free_port
from jupyter_playground.server import LocalServer, running_servers
from jupyter_playground.auth import Jupyter, JupyterError, AuthError, NotFound, ServerUnavailable, raises
from jupyter_playground.channels import Kernel, AsyncKernel, KernelError, ExecutionTimeout
from loopback import RecordingProxy

@pytest.fixture(scope='module')
def srv():
    with LocalServer() as s: yield s

def test_token_only_in_authorization_headers(srv):
    proxy = RecordingProxy(int(srv.url.rsplit(':', 1)[1].strip('/')))
    jp = Jupyter(proxy.url, srv.token)
    jp.status(); jp.me(); jp.contents.save('a b.txt', 'x'); jp.contents.get('a b.txt'); jp.contents.delete('a b.txt')
    k = jp.kernels.start()
    with jp.connect(k['id']) as kc: assert kc.execute('1 + 1').text == '2'
    s = jp.sessions.create('n.ipynb', kernel='python3'); jp.sessions.delete(s)
    jp.kernels.shutdown(k)
    proxy.close()
    stream = b''.join(proxy.sent).decode('latin-1')
    tok = srv.token
    heads = [l for l in stream.split('\r\n') if tok in l]
    assert heads, 'the client sent its token'
    assert all(l == f'Authorization: token {tok}' for l in heads), [l[:60] for l in heads if not l.startswith('Authorization')]
    lines = re.findall(r'^(?:GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.1', stream, re.M)
    assert any('/channels' in l for l in lines), 'the WebSocket handshake went through the proxy'
    assert not any(tok in l or 'token=' in l for l in lines)

def _listeners(port):
    "The local addresses listening on TCP `port`, from the kernel's socket tables (Linux)"
    res = []
    for table in ('/proc/net/tcp', '/proc/net/tcp6'):
        try: rows = open(table).read().splitlines()[1:]
        except OSError: continue
        for r in rows:
            local, state = r.split()[1], r.split()[3]
            addr, p = local.rsplit(':', 1)
            if state == '0A' and int(p, 16) == port: res.append(addr)
    return res

def test_server_listens_on_loopback_only(srv):
    port = int(srv.url.rsplit(':', 1)[1].strip('/'))
    found = _listeners(port)
    if not found: pytest.skip('no /proc/net/tcp on this system')
    assert found == ['0100007F'], found  # 127.0.0.1, and nothing else (no 0.0.0.0, no ::)

# --- the token never shows: reprs, error messages and tracebacks, traces, the server log, the built docs ---

def _shown(o) -> list:
    "Every way `o` shows itself: repr, str, and for an exception its formatted traceback and attributes"
    res = [repr(o), str(o)]
    if isinstance(o, BaseException): res += [''.join(traceback.format_exception(o)), repr(vars(o)), repr(o.args)]
    return res

def test_reprs_errors_traces_and_log_never_show_the_token(srv, counts):
    tok, wrong = srv.token, secrets.token_hex(24)
    jp = srv.client()
    kid = jp.kernels.start()['id']
    shown, errors = [], {}
    with jp.trace() as t:
        with jp.connect(kid) as k:
            assert k.execute('1 + 1').text == '2'
            shown += _shown(k)
            errors['ExecutionTimeout'] = raises(ExecutionTimeout, lambda: k.execute('import time; time.sleep(3)', timeout=0.3))
        async def use_async():
            async with AsyncKernel(jp, kid) as ak:
                assert (await ak.execute('1 + 1')).text == '2'
                return _shown(ak)
        shown += asyncio.run(use_async())
        errors['AuthError'] = raises(AuthError, lambda: Jupyter(srv.url, wrong).status())
        errors['NotFound'] = raises(NotFound, lambda: jp.contents.get('no such file.txt'))
        errors['NotFound (kernel)'] = raises(NotFound, lambda: jp.connect('no-such-kernel'))
        errors['AuthError (WebSocket refused)'] = raises(AuthError, lambda: Kernel(Jupyter(srv.url, wrong), kid))
        dead = f'http://127.0.0.1:{free_port()}/'
        errors['ServerUnavailable (refused)'] = raises(ServerUnavailable, lambda: Jupyter(dead, tok).status())
        errors['ServerUnavailable (WebSocket refused)'] = raises(ServerUnavailable, lambda: Jupyter(dead, tok).connect(kid))
    with LocalServer(token=secrets.token_hex(24)) as gone: gone_jp = gone.client()
    errors['ServerUnavailable (stopped)'] = raises(ServerUnavailable, gone_jp.status)
    shown += [s for e in errors.values() for s in _shown(e)] + [s for s in _shown(gone_jp)]
    shown += _shown(jp) + _shown(srv) + _shown(running_servers(srv.runtime_dir)[0])
    shown += [repr(t), str(t), t._repr_markdown_(), json.dumps(t.to_dicts(content=True), default=str)]
    shown += [srv.log(10_000)]
    assert len(t.http) >= 2 and len(t.ws) > 5
    leaks = [s[:200] for s in shown if tok in s or wrong in s or gone_jp.token in s]
    assert not leaks, leaks
    jp.kernels.shutdown(kid)
    counts('token leaks looked for', f"{len(shown)} strings: {len(errors)} errors ({', '.join(errors)}), reprs, a trace of {len(t)} events, the log")

# The built docs (the session fixture `site`, in conftest.py) hold no token-shaped string.
ROOT = Path(__file__).resolve().parents[1]
TOKENISH = re.compile(rb'(?<![0-9a-fA-F])[0-9a-f]{48}(?![0-9a-fA-F])|token=[0-9a-f]{8}')

def test_built_docs_hold_no_token(site):
    docs = site['out']
    files = [p for p in docs.rglob('*') if p.is_file()]
    assert any(p.suffix == '.html' for p in files)
    hits = {str(p.relative_to(docs)): m.group()[:12] for p in files for m in [TOKENISH.search(p.read_bytes())] if m}
    assert not hits, hits
    # and the committed notebooks' outputs hold none either (what the docs are made from)
    nb_hits = [p.name for p in (ROOT/'nbs').glob('*.ipynb') if TOKENISH.search(p.read_bytes())]
    assert not nb_hits, nb_hits
