"""nbclient's own test notebooks: its sdist at a pinned version, fetched from PyPI with pip once per machine and cached

The cache is `$JUPYTER_PLAYGROUND_CACHE`, else `$XDG_CACHE_HOME/jupyter-playground`, else `~/.cache/jupyter-playground`;
it holds `nbclient-<version>/nbclient-<version>.tar.gz` (checked against its sha256) and, extracted from it, `files/`
(every file of the sdist's `tests/files`: the notebooks and the data they read) and `test_client.py` (where the options
of each notebook's run come from). Everything is written to a temporary name and renamed, so two runs at once are safe.

Offline: a download that fails is an error saying what to do, never a silent skip. Only when running offline is said
explicitly (`JUPYTER_PLAYGROUND_OFFLINE=1`, or pip's own `PIP_NO_INDEX=1`) and the sdist is not in the cache does
`NbclientOffline` (which the tests turn into a skip) replace the download. To run offline, copy the sdist into the cache.
"""
import os, sys, shutil, hashlib, tarfile, tempfile, subprocess
from pathlib import Path

NBCLIENT_VERSION = '0.10.4'  # the newest 0.10.x on PyPI
SDIST_SHA256 = '1e54091b16e6da39e297b0ece3e10f6f29f4ac4e8ee515d29f8a7099bd6553c9'  # PyPI's nbclient-0.10.4.tar.gz

class NbclientOffline(RuntimeError):
    "Running offline was said explicitly, and the sdist is not in the cache"

class NbclientFetchError(RuntimeError):
    "The sdist could not be fetched or is not the pinned one"

def cache_dir() -> Path:
    "Where downloads survive between runs on this machine"
    if d := os.environ.get('JUPYTER_PLAYGROUND_CACHE'): return Path(d)
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home()/'.cache')/'jupyter-playground'

def offline() -> bool:
    "Whether running offline was said explicitly"
    true = lambda v: os.environ.get(v, '').strip().lower() in ('1', 'true', 'yes', 'on')
    return true('JUPYTER_PLAYGROUND_OFFLINE') or true('PIP_NO_INDEX')

def _sha256(p:Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()

def sdist(version:str=NBCLIENT_VERSION, sha256:str=SDIST_SHA256) -> Path:
    "nbclient's sdist at `version`, from the cache, else downloaded from PyPI with `pip download` into it"
    d = cache_dir()/f'nbclient-{version}'
    f = d/f'nbclient-{version}.tar.gz'
    if f.exists() and _sha256(f) == sha256: return f
    if offline(): raise NbclientOffline(f"offline (JUPYTER_PLAYGROUND_OFFLINE or PIP_NO_INDEX is set) and {f} is not there: "
                                        f"copy nbclient-{version}.tar.gz from PyPI there to run these tests")
    d.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix='download-', dir=d))
    try:
        cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps', '--no-binary', ':all:', '--quiet', f'nbclient=={version}', '-d', str(tmp)]
        try: r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e: r = subprocess.CompletedProcess(cmd, -1, '', str(e))
        got = tmp/f.name
        if r.returncode != 0 or not got.exists():
            raise NbclientFetchError(f"could not download nbclient {version}'s sdist from PyPI (`{' '.join(cmd[2:])}` exited {r.returncode}):\n"
                                     f"{(r.stderr or r.stdout)[-2000:]}\nWithout a network, copy nbclient-{version}.tar.gz to {d}, "
                                     f"or set JUPYTER_PLAYGROUND_OFFLINE=1 to skip these tests")
        if (h := _sha256(got)) != sha256:
            raise NbclientFetchError(f"{got.name} from PyPI has sha256 {h}, not the pinned {sha256}")
        os.replace(got, f)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return f

def nbclient_test_files(version:str=NBCLIENT_VERSION) -> Path:
    "The folder `tests/files` of nbclient's sdist at `version` (and `test_client.py` beside it), extracted once into the cache"
    d = cache_dir()/f'nbclient-{version}'
    out = d/'files'
    if (out/'.complete').exists(): return out
    src = sdist(version)
    tmp = Path(tempfile.mkdtemp(prefix='extract-', dir=d))
    try:
        top = f'nbclient-{version}/tests/'
        with tarfile.open(src) as tar:
            for m in tar.getmembers():
                if not m.isfile() or not m.name.startswith(top): continue
                rel = m.name[len(top):]
                if rel.startswith('files/') or rel == 'test_client.py':
                    m.name = rel
                    tar.extract(m, tmp, filter='data')
        if not list((tmp/'files').glob('*.ipynb')): raise NbclientFetchError(f"{src} has no tests/files/*.ipynb")
        os.replace(tmp/'test_client.py', d/'test_client.py')
        (tmp/'files'/'.complete').write_text(version)
        if out.exists(): shutil.rmtree(out, ignore_errors=True)  # left half-made by a run that was stopped
        try: os.replace(tmp/'files', out)
        except OSError:  # another run finished first
            if not (out/'.complete').exists(): raise
    finally: shutil.rmtree(tmp, ignore_errors=True)
    return out
