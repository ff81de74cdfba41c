"https and wss with `verify`: an embedded server with a certificate from a test CA, made here with the openssl CLI"
import asyncio, shutil, socket, time, traceback, warnings
import pytest
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import Jupyter, ServerUnavailable
from jupyter_playground.channels import Kernel, AsyncKernel, _QuickAckSSLSocket
from conftest import _openssl

pytestmark = [pytest.mark.skipif(not shutil.which('openssl'), reason='needs the openssl command line tool'),
              pytest.mark.filterwarnings('ignore::urllib3.exceptions.InsecureRequestWarning')]

@pytest.fixture(scope='module')
def srv(certs):
    with LocalServer(certfile=certs/'cert.pem', keyfile=certs/'key.pem') as s: yield s

@pytest.fixture(scope='module')
def kid(srv, certs):
    jp = srv.client(verify=str(certs/'ca.pem'))
    k = jp.kernels.start()['id']
    yield k
    jp.kernels.shutdown(k)

def test_url_is_https(srv):
    assert srv.url.startswith('https://127.0.0.1:')

def test_verify_with_ca_bundle(srv, certs, kid):
    jp = srv.client(verify=str(certs/'ca.pem'))
    assert jp.http.verify == str(certs/'ca.pem')
    assert jp.status()['kernels'] >= 1
    jp.contents.save('t.txt', 'over tls'); assert jp.contents.get('t.txt')['content'] == 'over tls'
    assert jp.ws_url('api').startswith('wss://')
    with jp.connect(kid) as k:
        assert k.execute('1 + 1').text == '2'
        # the quick-ACK socket survives the TLS wrapping (Linux)
        if hasattr(socket, 'TCP_QUICKACK'): assert isinstance(k._ws.socket, _QuickAckSSLSocket)
        assert k._ws.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    with jp.connect(kid, subprotocol=None) as k: assert k.execute('print("legacy")').text == 'legacy\n'

def test_verify_with_ca_bundle_async(srv, certs, kid):
    async def main():
        jp = srv.client(verify=certs/'ca.pem')  # a Path works as well as a str
        async with AsyncKernel(jp, kid) as ak:
            return (await ak.execute('1 + 1')).text
    assert asyncio.run(main()) == '2'

def test_verify_false(srv, kid):
    jp = srv.client(verify=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        assert jp.status()['kernels'] >= 1
    assert any('Unverified HTTPS' in str(x.message) for x in w), 'requests warns about verify=False, as it should'
    with jp.connect(kid) as k: assert k.execute('1 + 1').text == '2'
    async def main():
        async with AsyncKernel(jp, kid) as ak: return (await ak.execute('1 + 1')).text
    assert asyncio.run(main()) == '2'

def _clear(e, token):
    msg = str(e)
    assert 'could not be verified' in msg and "verify='path/to/ca.pem'" in msg and 'verify=False' in msg, msg
    tb = ''.join(traceback.format_exception(e))
    assert 'ssl.py' not in tb and 'urllib3' not in tb, 'no deep ssl traceback'
    assert token not in tb and token not in repr(e)

def test_default_verify_fails_clearly(srv, kid):
    jp = Jupyter(srv.url, srv.token)  # verify=True: the test CA is not trusted
    t0 = time.monotonic()
    with pytest.raises(ServerUnavailable) as ei: jp.status()
    _clear(ei.value, srv.token)
    assert time.monotonic() - t0 < 5
    with pytest.raises(ServerUnavailable) as ei: Kernel(jp, kid)
    _clear(ei.value, srv.token)
    async def main():
        with pytest.raises(ServerUnavailable) as ei: await AsyncKernel(jp, kid).open()
        return ei.value
    _clear(asyncio.run(main()), srv.token)

def test_wrong_ca_fails_clearly(srv, certs, kid, tmp_path):
    "a CA bundle that did not sign the server's certificate"
    _openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'o.key',
             '-out', 'other.pem', '-days', '1', '-subj', '/CN=other CA', cwd=tmp_path)
    jp = srv.client(verify=str(tmp_path/'other.pem'))
    with pytest.raises(ServerUnavailable, match='could not be verified'): jp.status()
    with pytest.raises(ServerUnavailable, match='could not be verified'): jp.connect(kid)

def test_jupyter_url_env_default(srv, certs, monkeypatch):
    monkeypatch.setenv('JUPYTER_URL', srv.url); monkeypatch.setenv('JUPYTER_TOKEN', srv.token)
    assert Jupyter(verify=str(certs/'ca.pem')).status()['kernels'] >= 0
    # requests' own environment variable is honoured for verify=True, on the REST calls and the WebSocket alike
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', str(certs/'ca.pem'))
    assert Jupyter().status()['kernels'] >= 0

def test_env_ca_bundle_also_for_websocket(srv, certs, kid, monkeypatch):
    monkeypatch.setenv('REQUESTS_CA_BUNDLE', str(certs/'ca.pem'))
    jp = Jupyter(srv.url, srv.token)
    with jp.connect(kid) as k: assert k.execute('1 + 1').text == '2'

def test_http_client_to_https_server_says_so(srv):
    "plain http to the TLS port: the server drops the connection at once, and we say nothing answers (no hang)"
    jp = Jupyter(srv.url.replace('https://', 'http://'), srv.token, timeout=5)
    t0 = time.monotonic()
    with pytest.raises(ServerUnavailable) as ei: jp.status()
    assert time.monotonic() - t0 < 5
    assert srv.token not in str(ei.value)
