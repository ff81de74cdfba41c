"""Never lose work, from the outside: `jupyter-playground run`/`exec` killed by SIGTERM, SIGHUP or a double Ctrl-C, locally and
with `--url`; a save that fails; `--kernel-env` on the wire. Each runs the installed command in a subprocess."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest
from jupyter_playground.server import LocalServer
from jupyter_playground.gateway import LocalGateway
from test_cli_interrupt import CMD, procs, descendants, nb
from loopback import RecordingProxy

@pytest.fixture(scope='module')
def remote():
    with LocalServer() as s: yield s

def temp_dirs(pids) -> set:
    "The embedded servers' temporary folders, read from their environment (JUPYTER_RUNTIME_DIR is `<folder>/runtime`)"
    found = set()
    for p in pids:
        try: env = Path(f'/proc/{p}/environ').read_bytes().split(b'\0')
        except OSError: continue
        found |= {Path(e.split(b'=', 1)[1].decode()).parent for e in env if e.startswith(b'JUPYTER_RUNTIME_DIR=')}
    return found

class Runner:
    "`jupyter-playground ARGS` in a subprocess, its stdout read line by line as it comes (`--log-output` prints each output)"
    def __init__(self, *args, env=None):
        self.p = subprocess.Popen([CMD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.lines = []
    def wait_for(self, text, limit=60):
        end = time.monotonic() + limit
        while time.monotonic() < end and self.p.poll() is None:
            line = self.p.stdout.readline()
            self.lines.append(line)
            if text in line: return
        raise AssertionError(f"{text!r} never printed: {self.lines}, {self.p.stderr.read() if self.p.poll() is not None else ''}")
    def finish(self, limit=30):
        try: out, err = self.p.communicate(timeout=limit)
        finally:
            if self.p.poll() is None: self.p.kill(); self.p.wait()
        return self.p.returncode, err

def texts(path, i): return [''.join(o.get('text', '')) or o.get('ename') for o in json.loads(Path(path).read_text())['cells'][i]['outputs']]

SLOW = "print('started', flush=True)\nimport time; time.sleep(120)"

@pytest.mark.parametrize('sig,status', [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_term_and_hup_save_close_and_exit(tmp_path, sig, status):
    "SIGTERM (docker stop, a CI timeout) and SIGHUP (a closed terminal) as Ctrl-C: the cells so far saved, nothing left, 128 + signal"
    path = nb(tmp_path/'r.ipynb', "print('one')", SLOW, "print('never')")
    r = Runner('run', str(path), '--log-output')
    r.wait_for('started')
    kids = descendants(r.p.pid); tmp = temp_dirs(kids)
    assert len(kids) >= 2 and len(tmp) == 1, (kids, tmp)  # the server and its kernel
    second = subprocess.run([CMD, 'run', './r.ipynb'], capture_output=True, text=True, cwd=tmp_path, timeout=60)  # another spelling
    assert second.returncode == 2 and 'is being run by another jupyter-playground command' in second.stderr, second.stderr
    t = time.monotonic(); r.p.send_signal(sig); code, err = r.finish()
    assert code == status and time.monotonic() - t < 15, (code, err)
    assert f'interrupted ({signal.Signals(sig).name})' in err, err
    assert texts(path, 0) == ['one\n'] and texts(path, 1) == ['started\n', 'KeyboardInterrupt'] and texts(path, 2) == []
    time.sleep(0.5)
    assert kids & set(procs()) == set() and not any(d.exists() for d in tmp), (kids & set(procs()), tmp)

def test_second_ctrl_c_waits_for_the_save(tmp_path):
    "A Ctrl-C while the first one's clean-up runs does not break it: the command says so, waits, and saves"
    slow_to_stop = ("print('started', flush=True)\nimport time\ntry: time.sleep(120)\n"
                    "except KeyboardInterrupt:\n    print('cleaning up', flush=True); time.sleep(2)")
    path = nb(tmp_path/'r.ipynb', slow_to_stop, "print('never')")
    r = Runner('run', str(path), '--log-output')
    r.wait_for('started')
    r.p.send_signal(signal.SIGINT); time.sleep(0.7); r.p.send_signal(signal.SIGINT)
    code, err = r.finish()
    assert code == 130, (code, err)
    assert 'SIGINT again: still saving' in err, err
    assert texts(path, 0) == ['started\ncleaning up\n'] and texts(path, 1) == []

def test_remote_run_and_exec_close_their_kernel_on_sigterm(tmp_path, remote):
    "With --url, a SIGTERM interrupts the remote kernel, saves there and closes the session, so the next run is not refused"
    jp = remote.client()
    (remote.root_dir/'r.ipynb').write_text(nb(tmp_path/'r.ipynb', "print('one')", SLOW).read_text())
    env = {**os.environ, 'JUPYTER_URL': remote.url, 'JUPYTER_TOKEN': remote.token}
    r = Runner('run', 'r.ipynb', '--log-output', env=env)
    r.wait_for('started')
    assert len(jp.sessions.ls()) == 1
    r.p.send_signal(signal.SIGTERM); code, err = r.finish()
    assert code == 143, (code, err)
    assert jp.sessions.ls() == [] and jp.kernels.ls() == []
    assert texts(remote.root_dir/'r.ipynb', 1) == ['started\n', 'KeyboardInterrupt']
    (remote.root_dir/'r.ipynb').write_text(nb(tmp_path/'r.ipynb', "print('again')").read_text())
    again = subprocess.run([CMD, 'run', 'r.ipynb'], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0, again.stderr  # not "open in another frontend"
    r = Runner('exec', SLOW, env=env)
    r.wait_for('started')
    assert len(jp.kernels.ls()) == 1
    r.p.send_signal(signal.SIGTERM); code, err = r.finish()
    assert code == 143 and jp.kernels.ls() == [], (code, err, jp.kernels.ls())

def test_failed_save_keeps_the_outputs_here(tmp_path, remote):
    "The server refuses the save (its folder vanished: a 500): the outputs go to the current folder, and the message says where"
    jp = remote.client()
    jp.contents.mkdir('doomed')
    (remote.root_dir/'doomed'/'r.ipynb').write_text(nb(tmp_path/'x.ipynb', "print('computed')", "import os, shutil; shutil.rmtree(os.getcwd())").read_text())
    work = tmp_path/'here'; work.mkdir()
    r = subprocess.run([CMD, 'run', 'doomed/r.ipynb', '--url', remote.url, '--token', remote.token], capture_output=True, text=True, cwd=work, timeout=60)
    assert r.returncode == 1, r.stderr
    kept, = work.glob('r.unsaved-*.ipynb')
    assert f'the outputs were not lost: the executed notebook is in {kept}' in r.stderr, r.stderr
    assert texts(kept, 0) == ['computed\n'] and jp.sessions.ls() == []

def test_kernel_env_is_sent(tmp_path, remote):
    "--kernel-env NAME=VALUE (repeatable) goes in the body of POST /api/sessions (run) and POST /api/kernels (exec), where gateways read it"
    (remote.root_dir/'env.ipynb').write_text(nb(tmp_path/'env.ipynb', "1").read_text())
    with RecordingProxy(int(remote.url.rsplit(':', 1)[1].strip('/'))) as p:
        r = subprocess.run([CMD, 'run', 'env.ipynb', '--url', p.url, '--token', remote.token, '--kernel-env', 'KERNEL_USERNAME=ada',
                            '--kernel-env', 'KERNEL_X=a=b'], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        body = next(bytes(s) for s in p.sent if b'POST /api/sessions' in s)
    assert b'"env": {"KERNEL_USERNAME": "ada", "KERNEL_X": "a=b"}' in body, body[-400:]
    bad = subprocess.run([CMD, 'exec', '1', '--kernel-env', 'NOVALUE'], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and 'give NAME=VALUE' in bad.stderr
    with LocalGateway() as gw:
        r = subprocess.run([CMD, 'exec', "import os; print(os.environ['KERNEL_USERNAME'])", '--url', gw.url, '--token', gw.token,
                            '--kernel-env', 'KERNEL_USERNAME=ada'], capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout) == (0, 'ada\n'), r.stderr
