"The client against a real Jupyter Enterprise Gateway 3.x, with its default settings, and a Jupyter server in front of it"
import os, getpass, time
import pytest
from jupyter_playground.all import *
from jupyter_playground.auth import PermissionDenied, _listing_hint
from jupyter_playground.gateway import LocalEnterpriseGateway

NB = {'cells': [{'cell_type': 'code', 'source': "import os; os.environ['KERNEL_USERNAME'], os.environ['EG_IMPERSONATION_ENABLED']",
                 'metadata': {}, 'outputs': [], 'execution_count': None}], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}

@pytest.fixture(scope='module')
def eg():
    "One gateway for the module, run by this user (root on CI) with EG's defaults, listing on for the server in front"
    with LocalEnterpriseGateway(list_kernels=True) as g: yield g

@pytest.fixture
def jp(eg):
    with eg.client() as c: yield c

def test_root_is_refused_with_the_fix(jp, eg):
    with pytest.raises(PermissionDenied) as ei: jp.kernels.start('python3', env={'KERNEL_USERNAME': 'root'})
    s = str(ei.value)
    assert ei.value.status == 403 and "refuses to start kernels for user 'root'" in s and 'is not authorized' in s
    assert "env={'KERNEL_USERNAME': 'alice'}" in s and '--kernel-env KERNEL_USERNAME=alice' in s
    assert 'check the token' not in s and eg.token not in s
    assert jp.kernels.ls() == []
    # the default KERNEL_USERNAME is this user: refused the same way when that is root (CI), accepted otherwise
    if getpass.getuser() == 'root':
        with pytest.raises(PermissionDenied, match="user 'root'"): jp.kernels.start()
    else: jp.kernels.shutdown(jp.kernels.start())
    assert jp.kernels.ls() == []

def test_kernel_with_env_interrupt_restart(jp):
    k = jp.kernels.start('python3', env={'KERNEL_USERNAME': 'alice', 'KERNEL_PROJECT': 'demo'})
    try:
        assert [o['id'] for o in jp.kernels.ls()] == [k['id']]
        with jp.connect(k['id']) as kc:
            got = kc.execute("import os; [os.environ.get(v) for v in ('KERNEL_USERNAME', 'KERNEL_PROJECT', 'EG_IMPERSONATION_ENABLED')]")
            assert got.text == "['alice', 'demo', 'False']", got.text
            t0 = time.monotonic()
            with pytest.raises(ExecutionTimeout): kc.execute('import time; time.sleep(60)', timeout=1)
            assert time.monotonic() - t0 < 15
            assert kc.execute('x = 6 * 7; x').text == '42'  # interrupted, not restarted
        assert jp.kernels.interrupt(k) is None
        assert jp.kernels.restart(k)['id'] == k['id']
        with jp.connect(k['id']) as kc: assert kc.execute("'x' in dir()").text == 'False'
    finally: jp.kernels.shutdown(k)
    with pytest.raises(NotFound): jp.kernels.get(k)

def test_sessions_start_kernels_for_the_gateway_user(jp):
    "EG 3's own /api/sessions starts each kernel for the user the gateway runs as, whatever the request says: refused as root"
    if getpass.getuser() != 'root': pytest.skip('the gateway runs as a user it accepts')
    with pytest.raises(PermissionDenied) as ei: jp.sessions.create('b.ipynb', kernel='python3', env={'KERNEL_USERNAME': 'alice'})
    s = str(ei.value)
    assert ei.value.status == 403 and "user 'root'" in s and 'does not pass `env` on' in s and 'in front of the gateway' in s
    assert jp.kernels.ls() == []

def test_product_named_in_hints(jp):
    assert 'EnterpriseGatewayApp.list_kernels=True' in _listing_hint(jp.send('GET', 'api'))
    with pytest.raises(NoEndpoint, match='no /api/contents endpoint.*Enterprise Gateway'): jp.contents.ls()

def test_notebook_through_a_server_in_front(eg, monkeypatch, tmp_path):
    monkeypatch.setenv('JUPYTER_GATEWAY_AUTH_TOKEN', eg.token)
    monkeypatch.setenv('KERNEL_USERNAME', 'alice')  # what the server in front sends the gateway
    with LocalServer(tmp_path, extra_args=[f"--gateway-url={eg.url.rstrip('/')}"]) as front:
        fj = front.client()
        fj.contents.save('who.ipynb', NB)
        out = run_notebook(fj, 'who.ipynb', progress=False)
        assert out['cells'][0]['outputs'][0]['data']['text/plain'] == "('alice', 'False')"
        assert fj.contents.get('who.ipynb')['content']['cells'][0]['execution_count'] == 1
        assert eg.client().kernels.ls() == []
