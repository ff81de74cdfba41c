"Security: through a recording loopback proxy, the token travels only in `Authorization` headers, never in a URL"
import re, socket, threading
import pytest
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import Jupyter

class RecordingProxy:
    "A loopback TCP proxy to `port` that keeps every byte the client sends"
    def __init__(self, port):
        self.port, self.sent, self.lsn = port, [], socket.create_server(('127.0.0.1', 0))
        self.url = f'http://127.0.0.1:{self.lsn.getsockname()[1]}/'
        threading.Thread(target=self._accept, daemon=True).start()
    def _accept(self):
        while True:
            try: c, _ = self.lsn.accept()
            except OSError: return
            s = socket.create_connection(('127.0.0.1', self.port))
            buf = bytearray(); self.sent.append(buf)
            threading.Thread(target=self._pipe, args=(c, s, buf), daemon=True).start()
            threading.Thread(target=self._pipe, args=(s, c, None), daemon=True).start()
    @staticmethod
    def _pipe(a, b, buf):
        try:
            while data := a.recv(65536):
                if buf is not None: buf += data
                b.sendall(data)
        except OSError: pass
        finally:
            for x in (a, b):
                try: x.shutdown(socket.SHUT_RDWR)
                except OSError: pass
    def close(self): self.lsn.close()

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
