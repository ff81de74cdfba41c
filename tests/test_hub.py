"""The client against a real JupyterHub (configurable-http-proxy, the DummyAuthenticator, local servers): `Hub` starts, stops
and hands out users' servers, and a client of a server that does not run is told which state it is in"""
import time
import nbformat
import pytest
from jupyter_playground.auth import Jupyter, AuthError, NoEndpoint, ServerNotRunning, PermissionDenied
from jupyter_playground.hub import Hub, LocalHub, HubAuthError
from jupyter_playground.notebooks import run_notebook
from jupyter_playground.execution import ConnectionLost

@pytest.fixture(scope='module')
def lh():
    "One hub for the whole file (each test leaves the servers it started stopped)"
    with LocalHub(users=['alice', 'zoë', 'bob']) as h: yield h

@pytest.fixture
def hub(lh):
    h = lh.client()
    urls = []
    h.http.hooks['response'].append(lambda r, *a, **k: urls.append(r.request.url))
    yield h
    assert not any(lh.token in u for u in urls)  # the token travels in the header only

def test_users(hub):
    assert sorted(u['name'] for u in hub.users()) == ['alice', 'bob', 'zoë']
    assert hub.user('zoë')['servers'] == {} and hub.state('zoë') == 'stopped'
    with pytest.raises(Exception, match="the hub has no user 'nobody'"): hub.user('nobody')

def test_notebook_on_a_started_server(hub, lh):
    events = []
    jp = hub.start('alice', on_progress=events.append)
    try:
        assert events[0]['progress'] == 0 and events[-1]['ready'] and events[-1]['url'] == '/user/alice/'
        assert jp.url == lh.url + 'user/alice/' and hub.state('alice') == 'running'
        assert hub.start('alice').url == jp.url  # already running: connected to, not started again
        # the kernel sees the hub's variables; `Hub()` takes its defaults from them, with the server's own token
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (
            "import os; os.environ['JUPYTERHUB_USER']",
            "from jupyter_playground.hub import Hub; inside = Hub(); inside.request('GET', 'user')['name']",
            "print(inside.url.startswith('http://127.0.0.1:'), 'JUPYTERHUB_API_TOKEN' in os.environ)")])
        jp.contents.save('nb.ipynb', nb)
        done = run_notebook(jp, 'nb.ipynb', progress=False)
        outs = [c['outputs'][0] for c in done['cells']]
        assert [o['data']['text/plain'] for o in outs[:2]] == ["'alice'", "'alice'"] and outs[2]['text'] == 'True True\n'
        assert jp.contents.get('nb.ipynb')['content']['cells'][0]['outputs']  # saved back on alice's server
        assert hub.server('alice').url == jp.url
    finally: hub.stop('alice')
    assert hub.state('alice') == 'stopped'

def test_named_server_with_a_unicode_user(hub, lh):
    jp = hub.start('zoë', 'lab')
    try:
        assert jp.url == lh.url + 'user/zo%C3%AB/lab/'
        assert sorted(hub.user('zoë')['servers']) == ['lab'] and hub.state('zoë') == 'stopped'
        jp.contents.save('café.txt', 'crème')
        assert jp.contents.get('café.txt')['content'] == 'crème'
        k = jp.kernels.start()
        with jp.connect(k['id']) as kc: assert kc.execute("import os; os.environ['JUPYTERHUB_SERVER_NAME']").text == "'lab'"
        with pytest.raises(ServerNotRunning, match="zoë's server is not running: start it with `hub.start\\('zoë'\\)`"): hub.server('zoë')
    finally: hub.stop('zoë', 'lab')
    err = pytest.raises(ServerNotRunning, jp.status).value
    assert err.state == 'stopped' and "zoë's server 'lab' is not running: start it with `hub.start('zoë', 'lab')`" in str(err)

def test_not_running(hub, lh):
    jp = Jupyter(lh.url + 'user/bob/', lh.token)
    calls = {'GET': jp.status, 'GET kernelspecs': jp.kernelspecs, 'GET kernels': jp.kernels.ls, 'POST': lambda: jp.contents.new(),
             'PUT': lambda: jp.contents.save('a.txt', 'a'), 'DELETE': lambda: jp.contents.delete('a.txt'),
             'GET a page': lambda: jp.send('GET', 'files/a.txt'), 'GET rest': lambda: jp.files('a.txt')}
    for what, f in calls.items():
        err = pytest.raises(ServerNotRunning, f).value
        assert err.state == 'stopped', what
        assert str(err).endswith("bob's server is not running: start it with `hub.start('bob')`"), (what, str(err))
        assert 'check the token' not in str(err)
    with pytest.raises(ServerNotRunning, match='is not running'): hub.server('bob')

def test_starting_then_stopping(hub, lh):
    jp = Jupyter(lh.url + 'user/bob/', lh.token)
    assert hub.send('POST', 'users/bob/server', json={'user_options': {'start_delay': 5, 'stop_delay': 3}}).status_code == 202
    try:
        for f in (jp.status, jp.kernels.start):  # GET answers 424, POST the hub's 403 page: both "still starting"
            err = pytest.raises(ServerNotRunning, f).value
            assert err.state == 'starting' and "bob's server is still starting" in str(err)
        with pytest.raises(ServerNotRunning, match='still starting'): hub.server('bob')
        with pytest.raises(ServerNotRunning, match=r'still starting: .* \(it was not ready within 0.5 s\)'): hub.start('bob', timeout=0.5)
        assert hub.start('bob').status()['kernels'] == 0  # waits for the spawn
        assert hub.send('DELETE', 'users/bob/server').status_code == 202
        assert hub.state('bob') == 'stopping'
        err = pytest.raises(ServerNotRunning, jp.status).value
        assert err.state == 'stopping' and "bob's server is stopping: once it has stopped, start it again" in str(err)
        with pytest.raises(ServerNotRunning, match='stopping'): hub.server('bob')
    finally: hub.stop('bob')
    assert hub.state('bob') == 'stopped'

def test_tokens(hub, lh):
    stopped = Jupyter(lh.url + 'user/zoë/', '')
    for f in (stopped.status, stopped.kernelspecs, stopped.kernels.ls, lambda: stopped.contents.new()):  # never the login page
        with pytest.raises(AuthError, match='JupyterHub sent the request to its login page: no token was sent'): f()
    wrong = Jupyter(lh.url + 'user/zoë/', 'wrong')
    for f in (wrong.status, lambda: wrong.contents.save('x.txt', 'x')):
        with pytest.raises(AuthError, match='its login page: it does not accept the token'): f()
    with pytest.raises(HubAuthError, match='the hub does not accept the token'): Hub(lh.url, 'wrong').users()
    with pytest.raises(HubAuthError, match='no token was sent'): Hub(lh.url, '').users()
    assert isinstance(HubAuthError(), AuthError)

def test_wrong_urls(hub, lh):
    for base in ('nope/', 'user/nobody/'):
        jp = Jupyter(lh.url + base, lh.token)
        for f in (jp.status, lambda: jp.contents.new()):
            err = pytest.raises(NoEndpoint, f).value
            assert f'no Jupyter server API under {lh.url}{base}' in str(err) and '/hub/' not in str(err).split(':')[0]
    with pytest.raises(NoEndpoint, match='no JupyterHub API at'): Hub(lh.url + 'nope/', lh.token).users()
    with pytest.raises(NoEndpoint, match='no JupyterHub API at'): Hub(lh.url + 'user/alice/', lh.token).users()

def test_server_stopped_mid_run(hub):
    jp = hub.start('alice')
    k = jp.kernels.start()
    kc = jp.connect(k['id'])
    try:
        assert kc.execute('6 * 7').text == '42'
        hub.stop('alice')
        t0 = time.monotonic()
        err = pytest.raises(ConnectionLost, kc.execute, '1').value
        assert "alice's server is not running: start it with `hub.start('alice')`" in str(err)
        assert 'redirect' not in str(err) and 'token' not in str(err)
        assert time.monotonic() - t0 < 5 and 'cannot be reopened' in str(err)  # no reconnection attempts for a server that was stopped
    finally: kc.close(); hub.stop('alice')
