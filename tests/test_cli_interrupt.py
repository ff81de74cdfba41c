"""Ctrl-C on `jupyter-playground run -j 2`: exit 130 at once, the running cell's outputs so far saved, no server or kernel process left"""
import json, signal, subprocess, sys, time
from pathlib import Path

CMD = str(Path(sys.executable).parent/'jupyter-playground')

def procs() -> dict:
    "pid -> (parent pid, command line) of every process on the machine"
    out = subprocess.run(['ps', '-eo', 'pid=,ppid=,args='], capture_output=True, text=True).stdout
    return {int(l.split()[0]): (int(l.split()[1]), l) for l in out.splitlines()}

def descendants(pid:int) -> set:
    "The processes below `pid`: its embedded server, and the server's kernels"
    ps, found, todo = procs(), set(), [pid]
    while todo:
        p = todo.pop()
        kids = [q for q,(pp,_) in ps.items() if pp == p]
        found.update(kids); todo.extend(kids)
    return found

def nb(path, *sources):
    path.write_text(json.dumps(dict(cells=[dict(cell_type='code', source=s, metadata={}, outputs=[], execution_count=None) for s in sources],
        metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')), nbformat=4, nbformat_minor=5)))
    return path

def test_ctrl_c_saves_and_leaves_no_process(tmp_path):
    slow = nb(tmp_path/'slow.ipynb', "print('started', flush=True)\nimport time; time.sleep(120)")
    slow2 = nb(tmp_path/'slow2.ipynb', "import time; time.sleep(120)")
    p = subprocess.Popen([CMD, 'run', str(slow), str(slow2), '-j', '2'], stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a shell's background job would ignore SIGINT
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and len(descendants(p.pid)) < 3 and p.poll() is None: time.sleep(0.2)  # the server and both kernels
        time.sleep(2)  # the cells sent
        started = descendants(p.pid)
        assert len(started) >= 3, started  # one server, two kernels
        t = time.monotonic(); p.send_signal(signal.SIGINT); err = p.communicate(timeout=30)[1]
    finally:
        if p.poll() is None: p.kill(); p.wait()  # a failed test leaves no command running
    assert p.returncode == 130 and time.monotonic() - t < 15, (p.returncode, err)
    time.sleep(0.5)
    assert started & set(procs()) == set(), 'left running: ' + repr(started & set(procs()))
    out = json.loads(slow.read_text())['cells'][0]['outputs']
    assert [''.join(o.get('text', '')) or o.get('ename') for o in out] == ['started\n', 'KeyboardInterrupt'], out

def test_ctrl_c_while_the_server_starts(tmp_path):
    "Ctrl-C before the embedded server answers: exit 130 in about a second (it used to wait 10 s for a shutdown it never asked for)"
    one = nb(tmp_path/'one.ipynb', '1 + 1')
    p = subprocess.Popen([CMD, 'run', str(one)], stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and not descendants(p.pid) and p.poll() is None: time.sleep(0.02)  # the server is launched
        started = descendants(p.pid)
        assert started, 'no server was launched'
        t = time.monotonic(); p.send_signal(signal.SIGINT); err = p.communicate(timeout=30)[1]
    finally:
        if p.poll() is None: p.kill(); p.wait()
    assert p.returncode == 130 and time.monotonic() - t < 5, (p.returncode, time.monotonic() - t, err)
    time.sleep(0.5)
    assert started & set(procs()) == set(), 'left running: ' + repr(started & set(procs()))
    assert json.loads(one.read_text())['cells'][0]['outputs'] == []  # nothing ran, nothing written
