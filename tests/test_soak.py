"""Soak: a few hundred executions over a link cut at random, a server restart or two, runners killed with SIGKILL and SIGTERM.

Afterwards every notebook on disk is valid, holds every cell reported finished before its last save, and no kernel,
session or temporary folder is left. Bounded (about a minute), loopback only; the figures go to the run's summary.
"""
import json, os, random, re, signal, subprocess, threading, time
from pathlib import Path
import pytest, nbformat
from jupyter_playground.server import LocalServer
from jupyter_playground.auth import Jupyter, JupyterError
from jupyter_playground.channels import KernelError
from jupyter_playground.notebooks import run_notebook
from loopback import LoopbackProxy
from test_cli_interrupt import CMD, procs, descendants, nb
from test_saves import temp_dirs

RNG = random.Random(int(os.environ.get('SOAK_SEED', '17')))
AUTOSAVE = 0.5  # seconds: the window a SIGKILL may lose

def cells(n:int, pause:float=0) -> list:
    "`n` cells, each printing `cell i` as its last act (so a reported line means a finished cell)"
    return [(f"import time; time.sleep({pause})\n" if pause else '') + f"print('cell {i}', flush=True)" for i in range(n)]

def finished_on_disk(path) -> set:
    "The cells whose `cell i` line is saved in the notebook at `path` (which must be valid nbformat)"
    d = nbformat.read(str(path), as_version=4)
    nbformat.validate(d)
    return {i for i, c in enumerate(d.cells) if f'cell {i}\n' in ''.join(o.get('text', '') for o in c.get('outputs', []))}

class Cuts:
    "A thread cutting every connection through `proxy` every 1.5-3 s while cells run (`live`), and restarting the server at the given moments"
    def __init__(self, proxy, restart, at=()):
        self.proxy, self.restart, self.at, self.n, self.restarts, self.stop = proxy, restart, sorted(at), 0, 0, threading.Event()
        self.live, self.t0, self.th = threading.Event(), time.monotonic(), threading.Thread(target=self.go, daemon=True)
    def go(self):
        while not self.stop.wait(RNG.uniform(1.5, 3)):
            if not self.live.is_set(): continue
            self.n += self.proxy.cut()
            if self.at and time.monotonic() - self.t0 > self.at[0]: self.at.pop(0); self.restart(); self.restarts += 1
    def __enter__(self): self.th.start(); return self
    def __exit__(self, *a): self.stop.set(); self.th.join(30)

def test_soak(tmp_path, counts):
    fig = dict(executions=0, cuts=0, restarts=0, kills=0, checked=0, lost=0, failed_runs=0, swallowed=0, restored=0)
    # ---- 1. runs in this process through a proxy that cuts at random, with server restarts
    root, unsaved = tmp_path/'root', tmp_path/'unsaved'
    root.mkdir(); unsaved.mkdir()
    srv = LocalServer(root_dir=root).start()
    port, token = int(srv.url.rsplit(':', 1)[1].strip('/')), srv.token
    box = {'srv': srv}
    def restart():
        box['srv'].stop(); box['srv'] = LocalServer(root_dir=root, port=port, token=token).start()
    names = [f'soak{k}.ipynb' for k in range(5)]
    for name in names: nb(root/name, *cells(60))
    reported, errors = {}, []
    try:
        with LoopbackProxy(port) as proxy, Cuts(proxy, restart, at=(2, 6)) as cuts:
            jp = Jupyter(proxy.url, token, timeout=10)
            for name in names:
                seen = reported[name] = set()
                def on(o, seen=seen): cuts.live.set(); seen.update(int(i) for i in re.findall(r'cell (\d+)', o.get('text', '')))
                for attempt in range(4):  # a run cut before its first cell ran is run again, as a user would
                    try: run_notebook(jp, name, autosave=AUTOSAVE, unsaved_dir=unsaved, progress=False, on_output=on, timeout=3, allow_errors=True); break
                    except (JupyterError, KernelError) as e:  # a cut REST call or handshake, a restart that killed its kernel
                        fig['failed_runs'] += 1; errors.append(f"{name}: {str(e).splitlines()[0]}")
                        if seen: break
                    finally: cuts.live.clear()
                fig['executions'] += len(seen)
            fig['cuts'], fig['restarts'] = cuts.n, cuts.restarts
        jp = box['srv'].client()
        for name in names:  # a save cut short by a restart left the file empty: the server puts its backup back as it reads it
            if (root/name).stat().st_size == 0:
                assert (root/f'.~{name}').exists(); jp.contents.get(name); fig['restored'] += 1
            ran = jp.contents.get(name)['content']['cells']
            fig['swallowed'] += sum(any(o.get('ename') == 'KeyboardInterrupt' for o in c.get('outputs', [])) for c in ran)
        for name in names:  # what it reported is on the server, or in the file written when the save failed
            kept = [root/name, *unsaved.glob(name.removesuffix('.ipynb') + '.unsaved-*.ipynb')]
            on_disk = set().union(*map(finished_on_disk, kept))
            fig['checked'] += len(kept); fig['lost'] += len(reported[name] - on_disk)
        assert jp.sessions.ls() == [] and jp.kernels.ls() == [], (jp.sessions.ls(), jp.kernels.ls())
    finally: box['srv'].stop()
    # ---- 2. the command killed at random moments: SIGKILL loses at most the autosave window, SIGTERM nothing
    leftovers, killed_tmp = set(), set()
    for k, sig in enumerate([signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGTERM]):
        path = nb(tmp_path/f'killed{k}.ipynb', *cells(60, pause=0.05))
        p = subprocess.Popen([CMD, 'run', str(path), '--log-output', '--autosave', str(AUTOSAVE)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        when, first = {}, threading.Event()
        def read(p=p, when=when, first=first):
            for line in p.stdout:
                if line.startswith('cell '): when[int(line.split()[1])] = time.monotonic(); first.set()
        reader = threading.Thread(target=read, daemon=True); reader.start()
        try:
            assert first.wait(90), 'the run never started'
            time.sleep(RNG.uniform(0.3, 1.5))
            kids = descendants(p.pid); leftovers |= kids; tmp = temp_dirs(kids)
            t_kill = time.monotonic(); p.send_signal(sig); p.wait(30)
        finally:
            if p.poll() is None: p.kill(); p.wait()
        reader.join(10)
        fig['kills'] += 1; fig['executions'] += len(when); fig['checked'] += 1
        assert p.returncode == (-9 if sig == signal.SIGKILL else 143), p.returncode
        on_disk = finished_on_disk(path)
        must = {i for i, t in when.items() if sig == signal.SIGTERM or t < t_kill - AUTOSAVE - 0.5}  # 0.5 s: a save's own time
        fig['lost'] += len(must - on_disk)
        if sig == signal.SIGKILL: killed_tmp |= tmp
        else: assert not any(d.exists() for d in tmp), tmp
    # the next command removes what the SIGKILLed ones could not; their servers and kernels ended with them
    subprocess.run([CMD, 'run', str(nb(tmp_path/'after.ipynb', '1'))], capture_output=True, timeout=120, check=True)
    time.sleep(0.5)
    assert leftovers & set(procs()) == set(), leftovers & set(procs())
    assert killed_tmp and not any(d.exists() for d in killed_tmp), killed_tmp
    counts('soak', f"{fig['executions']} executions, {fig['cuts']} cuts, {fig['restarts']} server restarts, {fig['kills']} kills "
                   f"(SIGKILL and SIGTERM), {fig['checked']} notebooks checked, {fig['lost']} outputs lost beyond the autosave window, "
                   f"{fig['failed_runs']} runs ended by a restart, {fig['swallowed']} cells whose request a cut swallowed (timed out), "
                   f"{fig['restored']} notebooks emptied by a restart mid-save and restored from the server's backup")
    assert fig['lost'] == 0, (fig, errors)
    assert fig['executions'] >= 250 and fig['cuts'] > 0 and fig['restarts'] >= 1, (fig, errors)
