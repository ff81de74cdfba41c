"Fixtures shared by the test modules, and the run's summary of what the robustness tests tried"
import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def site(tmp_path_factory):
    "The fallback docs site, built once per test run into _docs/ (README written to a temporary file, to compare)"
    readme = tmp_path_factory.mktemp('readme')/'README.md'
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs.py'), '--fallback', '--readme', str(readme)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(readme=readme, pages=sorted((ROOT/'_docs').glob('*.html')), out=ROOT/'_docs')

def _openssl(*args, cwd):
    subprocess.run(['openssl', *args], cwd=cwd, check=True, capture_output=True, timeout=30)

@pytest.fixture(scope='session')
def certs(tmp_path_factory):
    "A CA, and a server certificate it signed for 127.0.0.1 (EC keys: fast to make), made with the openssl CLI"
    if not shutil.which('openssl'): pytest.skip('needs the openssl command line tool')
    d = tmp_path_factory.mktemp('tls')
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    _openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=jupyter-playground test CA', cwd=d)
    _openssl('req', *ec, '-keyout', 'key.pem', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1', cwd=d)
    (d/'ext.cnf').write_text('subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n')
    _openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'cert.pem',
             '-days', '2', '-extfile', 'ext.cnf', cwd=d)
    return d

COUNTS = {}  # what the robustness tests tried, shown at the end of the run

@pytest.fixture(scope='session')
def counts():
    "Record a line for the end of the run: `counts('faults', '15 injected, 15 survived')`"
    return COUNTS.__setitem__

def pytest_terminal_summary(terminalreporter):
    if not COUNTS: return
    terminalreporter.section('what the robustness tests tried')
    for what, text in COUNTS.items(): terminalreporter.write_line(f"{what}: {text}")
