"The client against a real Jupyter Kernel Gateway: kernels and channels work, and what a gateway lacks is named"
import sys, time, shutil, socket, subprocess
import pytest
import fastcore.net
from jupyter_playground.all import *
from jupyter_playground.auth import NoEndpoint, PermissionDenied
from jupyter_playground.server import _alive

pytest.importorskip('kernel_gateway')

@pytest.fixture(scope='module')
def gw():
    with LocalGateway() as g: yield g

@pytest.fixture(scope='module')
def listing():
    "A second gateway, started with `list_kernels` on"
    with LocalGateway(list_kernels=True) as g: yield g

@pytest.fixture
def jp(gw):
    with Jupyter(gw.url, gw.token) as c: yield c

def test_kernelspecs(jp):
    ks = jp.kernelspecs()
    assert ks['default'] == 'python3'
    assert ks['kernelspecs']['python3']['spec']['language'] == 'python'

def test_kernel_lifecycle(jp):
    k = jp.kernels.start('python3')
    try:
        assert k['name'] == 'python3' and k['execution_state'] == 'starting'
        assert jp.kernels.get(k)['id'] == k['id']
        with jp.connect(k['id']) as kc: kc.execute('x = 1')
        r = jp.kernels.restart(k)
        assert r['id'] == k['id']
        assert jp.kernels.interrupt(k) is None
        # the channels' kernel_info handshake waits for the new process (polling the REST state can miss
        # its first `idle`, a race inside the server's activity watcher)
        with jp.connect(k['id']) as kc: assert kc.execute("'x' in dir()").text == 'False'
    finally: jp.kernels.shutdown(k)
    with pytest.raises(NotFound, match='Kernel does not exist'): jp.kernels.get(k)
    with pytest.raises(NoSuchKernel, match="no kernelspec named 'nope'"): jp.kernels.start('nope')

@pytest.mark.parametrize('framing', ['v1', 'legacy'])
def test_execute_over_channels(jp, framing):
    k = jp.kernels.start()
    try:
        with jp.connect(k['id'], subprotocol=None if framing == 'legacy' else V1) as kc:
            assert kc.subprotocol == (None if framing == 'legacy' else V1)
            r = kc.execute('import sys; print(6 * 7); sys.version_info[0]')
            assert (r.status, r.text) == ('ok', '42\n3')
            r = kc.execute('1/0')
            assert r.status == 'error' and r.error['ename'] == 'ZeroDivisionError'
            kc.restart()
            assert kc.execute('"x" in dir()').text == 'False'
    finally: jp.kernels.shutdown(k)

def test_interrupt_running_code(jp):
    k = jp.kernels.start()
    try:
        with jp.connect(k['id']) as kc:
            t0 = time.monotonic()
            with pytest.raises(ExecutionTimeout): kc.execute('import time; time.sleep(60)', timeout=1)
            assert time.monotonic() - t0 < 15
            assert kc.execute('2 + 2').text == '4'  # the kernel survived the interrupt
    finally: jp.kernels.shutdown(k)

def test_listing_disabled(jp, gw):
    for f in (jp.kernels.ls, jp.sessions.ls):
        with pytest.raises(PermissionDenied) as ei: f()
        e = ei.value
        assert isinstance(e, AuthError) and e.status == 403
        assert 'accepts this token' in str(e) and '`--JupyterWebsocketPersonality.list_kernels=True`' in str(e)
        assert 'EnterpriseGatewayApp' not in str(e)  # the hint names this product's option only
        assert 'check the token' not in str(e) and gw.token not in str(e)

def test_listing_enabled(listing):
    with Jupyter(listing.url, listing.token) as jp:
        assert jp.kernels.ls() == []
        k = jp.kernels.start()
        try: assert [o['id'] for o in jp.kernels.ls()] == [k['id']]
        finally: jp.kernels.shutdown(k)
        assert jp.kernels.ls() == []

def test_wrong_token(gw, jp):
    bad = Jupyter(gw.url, 'wrong')
    with pytest.raises(AuthError, match='401.*check the token') as ei: bad.kernelspecs()
    assert type(ei.value) is AuthError
    with pytest.raises(AuthError, match='check the token'): bad.kernels.start()
    k = jp.kernels.start()
    try:
        with pytest.raises(AuthError): bad.connect(k['id'])
    finally: jp.kernels.shutdown(k)

@pytest.mark.parametrize('call,endpoint', [
    (lambda jp: jp.contents.ls(), '/api/contents'),
    (lambda jp: jp.contents.get('a.ipynb'), '/api/contents'),
    (lambda jp: jp.contents.exists('a.ipynb'), '/api/contents'),  # not a silent False
    (lambda jp: jp.contents.save('a.txt', 'hi'), '/api/contents'),
    (lambda jp: jp.contents.new(), '/api/contents'),
    (lambda jp: jp.status(), '/api/status'),
    (lambda jp: jp.me(), '/api/me'),
    (lambda jp: run_notebook(jp, 'a.ipynb', progress=False), '/api/contents'),
], ids=['contents.ls', 'contents.get', 'contents.exists', 'contents.save', 'contents.new', 'status', 'me', 'run_notebook'])
def test_missing_endpoints(jp, gw, call, endpoint):
    with pytest.raises(NoEndpoint) as ei: call(jp)
    s = str(ei.value)
    assert f'this server has no {endpoint} endpoint' in s
    assert 'Kernel or Enterprise Gateway' in s
    assert 'check the token' not in s and gw.token not in s and gw.token not in repr(ei.value)
    assert not isinstance(ei.value, NotFound)  # a missing API is not a missing file

def test_wrong_base_path(gw):
    jp = Jupyter(gw.url + 'user/alice/', gw.token)
    with pytest.raises(NoEndpoint, match='no Jupyter server API under .*/user/alice/: check the URL and its base path'): jp.kernelspecs()

def test_unknown_kernel_ids_stay_not_found(jp):
    # the endpoint exists: a 404 there is about the id, and stays a plain NotFound
    with pytest.raises(NotFound, match='Kernel does not exist: 00000000'): jp.kernels.get('00000000-0000-0000-0000-000000000000')
    with pytest.raises(NotFound) as ei: jp.kernels.get('abc')
    assert type(ei.value) is NotFound

# `LocalGateway` itself

def test_local_gateway(monkeypatch):
    # KG_* variables would configure the gateway (its token, its port, listing): they are kept from it
    monkeypatch.setenv('KG_AUTH_TOKEN', 'from-the-environment')
    monkeypatch.setenv('KG_LIST_KERNELS', 'True')
    monkeypatch.setenv('KG_PORT', '1')
    g = LocalGateway()
    assert repr(g) == 'LocalGateway(not started, stopped)' and g.url is None
    with g:
        assert g.running and g.start() is g  # start is idempotent too
        assert g.url.startswith('http://127.0.0.1:') and g.url.endswith('/') and g.pid == g.proc.pid
        assert g.token not in ' '.join(g.proc.args) and g.token not in repr(g)
        assert oct((g._tmp/'config').stat().st_mode & 0o777) == '0o700'
        jp = g.client()
        with pytest.raises(AuthError): Jupyter(g.url, 'from-the-environment').kernelspecs()
        with pytest.raises(PermissionDenied): jp.kernels.ls()
        k = jp.kernels.start()
        with jp.connect(k['id']) as kc:
            assert kc.execute('import os; os.getcwd()').text == repr(str(g.root_dir))  # kernels start in root_dir
            kernel_pid = int(kc.execute('os.getpid()').text)
        port,tmp = int(g.url.split(':')[-1].strip('/')), g._tmp
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 15
    assert not g.running and g.url is None and not tmp.exists()
    with socket.socket() as s: assert s.connect_ex(('127.0.0.1', port)) != 0
    for _ in range(50):  # SIGTERM makes the gateway shut its kernels down
        if not _alive(kernel_pid): break
        time.sleep(0.1)
    assert not _alive(kernel_pid)
    g.stop()  # idempotent
    with pytest.raises(ServerStartError, match='not running'): g.client()

def test_root_dir_is_kept(tmp_path):
    (tmp_path/'data.txt').write_text('mine')
    with LocalGateway(tmp_path) as g:
        assert g.root_dir == tmp_path.resolve()
        with g.client() as jp:
            k = jp.kernels.start()
            try:
                with jp.connect(k['id']) as kc: assert kc.execute("open('data.txt').read()").text == "'mine'"
            finally: jp.kernels.shutdown(k)
    assert (tmp_path/'data.txt').read_text() == 'mine'

def test_every_output_delivered(jp):
    # the gateway's IOPub rate limit is off, as on `LocalServer`: 3 MB printed at once all arrive
    k = jp.kernels.start()
    try:
        with jp.connect(k['id']) as kc:
            r = kc.execute("for i in range(3000): print('x' * 999)")
            assert r.status == 'ok' and len(r.text) == 3000 * 1000
    finally: jp.kernels.shutdown(k)

def _busy():
    "A socket listening on a port of 127.0.0.1, so that nobody else can bind it"
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); return s

def test_free_port_taken_meanwhile(monkeypatch):
    "A free port that another process binds before the gateway does: `start` tries another"
    real,calls = fastcore.net.free_port,[]
    def free_port(host='localhost'):
        calls.append(host)
        return s.getsockname()[1] if len(calls) == 1 else real(host)
    with _busy() as s:
        monkeypatch.setattr(fastcore.net, 'free_port', free_port)
        with LocalGateway() as g:
            assert len(calls) == 2 and g.url != f'http://127.0.0.1:{s.getsockname()[1]}/'
            assert g.client().kernelspecs()['default'] == 'python3'

def test_fixed_port_in_use():
    with _busy() as s:
        g = LocalGateway(port=s.getsockname()[1])
        with pytest.raises(ServerStartError, match='(?s)jupyter kernelgateway exited with code.*already in use') as ei: g.start()
        assert g.token not in str(ei.value) and not g.running

def test_does_not_start():
    g = LocalGateway(extra_args=['--KernelGatewayApp.ip=not a host'])
    with pytest.raises(ServerStartError, match='log ends with') as ei: g.start()
    assert g.token not in str(ei.value) and not g.running

@pytest.mark.skipif(not shutil.which('openssl'), reason='needs the openssl command line tool')
def test_tls(certs):
    "With a certificate the gateway speaks https and wss, as `LocalServer` does"
    with LocalGateway(certfile=certs/'cert.pem', keyfile=certs/'key.pem') as g:
        assert g.url.startswith('https://127.0.0.1:')
        jp = g.client(verify=str(certs/'ca.pem'))
        k = jp.kernels.start()
        try:
            with jp.connect(k['id']) as kc: assert kc.execute('6 * 7').text == '42'
        finally: jp.kernels.shutdown(k)
        with pytest.raises(ServerUnavailable): Jupyter(g.url, g.token).kernelspecs()  # an unknown CA is refused

def test_not_installed():
    class Missing(LocalGateway): _app = 'no_such_kernel_gateway:launch_instance'
    with pytest.raises(ServerStartError, match='jupyter-kernel-gateway is not installed: pip install jupyter-kernel-gateway'):
        Missing().start()

def test_importing_the_library_does_not_import_kernel_gateway():
    code = "import sys, jupyter_playground.all; print('kernel_gateway' in sys.modules)"
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60).stdout.strip() == 'False'

def test_dies_with_its_owner():
    "The gateway exits when the process that started it is killed without running atexit"
    code = "from jupyter_playground.gateway import LocalGateway; g = LocalGateway().start(); print(g.pid, flush=True); import os; os._exit(0)"
    child = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    orphan = int(child.stdout.split()[0])
    for _ in range(100):
        if not _alive(orphan): break
        time.sleep(0.1)
    assert not _alive(orphan)

def test_kernel_env_reaches_a_gateway_kernel(jp):
    "`kernels.start(env=)` sends `KERNEL_*` variables in the body, which a Kernel Gateway puts in the kernel's environment"
    k = jp.kernels.start('python3', env={'KERNEL_USERNAME': 'ada', 'KERNEL_WORKING_DIR': '/tmp', 'NOT_A_KERNEL_VAR': 'x'})
    try:
        with jp.connect(k['id']) as kc:
            got = kc.execute("import os; [os.environ.get(v) for v in ('KERNEL_USERNAME', 'KERNEL_WORKING_DIR', 'NOT_A_KERNEL_VAR')]").text
        assert got == "['ada', '/tmp', None]", got  # the gateway passes KERNEL_* only
    finally: jp.kernels.shutdown(k)

# Another kernel: bash_kernel (pip install bash_kernel; python -m bash_kernel.install --sys-prefix, as .ci/run does)

def _bash_nb(*sources):
    return {'cells': [{'cell_type': 'code', 'source': s, 'metadata': {}, 'outputs': [], 'execution_count': None, 'id': f'c{i}'}
                      for i,s in enumerate(sources)],
            'metadata': {'kernelspec': {'name': 'bash', 'display_name': 'Bash', 'language': 'bash'}}, 'nbformat': 4, 'nbformat_minor': 5}

@pytest.fixture(scope='module')
def bash():
    "bash_kernel's kernelspec in this environment, installed the way .ci/run installs it when it is missing"
    from jupyter_client.kernelspec import KernelSpecManager
    if 'bash' not in KernelSpecManager().find_kernel_specs():
        subprocess.run([sys.executable, '-m', 'bash_kernel.install', '--sys-prefix'], check=True, capture_output=True, timeout=60)
    return 'bash'

def test_bash_notebook_run(bash, tmp_path):
    with LocalServer(tmp_path) as srv:
        jp = srv.client()
        jp.contents.save('b.ipynb', _bash_nb('x=6; echo $((x * 7))', 'echo "x is $x"'))
        out = run_notebook(jp, 'b.ipynb', progress=False)
        assert [c['outputs'][0]['text'] for c in out['cells']] == ['42\n', 'x is 6\n']
        assert out['metadata']['language_info']['name'] == 'bash'
        assert jp.contents.get('b.ipynb')['content']['cells'][1]['execution_count'] == 2
        jp.contents.save('bad.ipynb', _bash_nb('echo before', 'ls /nope'))
        with pytest.raises(CellExecutionError, match='ls /nope'): run_notebook(jp, 'bad.ipynb', progress=False)

def test_bash_notebook_cli(bash, tmp_path):
    import json
    (tmp_path/'b.ipynb').write_text(json.dumps(_bash_nb('echo "$((6 * 7))"')))
    (tmp_path/'bad.ipynb').write_text(json.dumps(_bash_nb('false')))
    # both in one command: one embedded server for the folder
    r = subprocess.run(['jupyter-playground', 'run', str(tmp_path/'b.ipynb'), str(tmp_path/'bad.ipynb')], capture_output=True, text=True, timeout=120)
    said = r.stdout + r.stderr
    assert r.returncode == 1 and 'b.ipynb: ok' in said and 'bad.ipynb: cell 1 (false)' in said, said
    assert ''.join(json.loads((tmp_path/'b.ipynb').read_text())['cells'][0]['outputs'][0]['text']) == '42\n'

def test_bash_kernel_on_the_gateway(bash, jp):
    assert 'bash' in jp.kernelspecs()['kernelspecs']
    k = jp.kernels.start('bash')
    try:
        with jp.connect(k['id']) as kc:
            assert kc.kernel_info()['language_info']['name'] == 'bash'
            assert kc.execute('echo $((6 * 7))').text == '42\n'
    finally: jp.kernels.shutdown(k)
