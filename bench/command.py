"""The whole command, as people type it: `jupyter-playground run` against `jupyter execute` and papermill.

    python bench/command.py              # 5 rounds (a few minutes)
    python bench/command.py --quick      # 1 round, the small cases only (CI runs this to check it works)
    python bench/command.py --json out.json

Each round runs every contender once on fresh copies of the same notebooks, in an order that rotates from
round to round, so load on the machine hits them alike. Times are wall-clock times of the whole process
(interpreter start, imports, server or kernel start, cells, save, stop), medians over the rounds. Cases:
a 3-cell notebook, a 200-cell notebook, and a batch of 10 small notebooks in one command (`-j 2` for us;
`jupyter execute` takes several notebooks and runs them one after another; papermill runs one per process).
Also: how long the embedded server takes to answer `/api/status`, against a plain `jupyter server`.
Needs `pip install -e ".[bench]"` (papermill, nbclient).
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

BIN = Path(sys.executable).parent
JOBS = "-j" in subprocess.run([str(BIN/"jupyter-playground"), "run", "--help"], capture_output=True, text=True).stdout  # older versions: no -j

def notebook(cells):
    return dict(cells=[dict(cell_type='code', source=s, metadata={}, outputs=[], execution_count=None) for s in cells],
                metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')), nbformat=4, nbformat_minor=5)

CASES = {'3 trivial cells': [['1 + 1', "print('hi')", 'x = 3']],
         '200 small cells': [[f'x{i} = {i}\nx{i} * 2' for i in range(200)]],
         'batch of 10 notebooks': [[f'n = {j}', 'n * n'] for j in range(10)]}

TARGETS = {'3 trivial cells': 0.7, '200 small cells': 0.7, 'batch of 10 notebooks': 0.5}  # issue 16: ours / jupyter execute

def commands(paths, out):
    "Each contender's command line for the notebooks `paths` (written in place, or into `out`)"
    pm = [[str(BIN/'papermill'), '--no-progress-bar', '--log-level', 'WARNING', str(p), str(out/p.name)] for p in paths]
    ours = [str(BIN/'jupyter-playground'), 'run', *map(str, paths)] + (['-j', '2'] if len(paths) > 1 and JOBS else [])
    return {'jupyter-playground run': [ours], 'jupyter execute --inplace': [[str(BIN/'jupyter-execute'), '--inplace', *map(str, paths)]],
            'papermill': pm}

def run_case(name, cells_list, rounds):
    times = {}
    for r in range(rounds):
        cmds = None
        order = None
        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            for who in ['jupyter-playground run', 'jupyter execute --inplace', 'papermill']:
                (d/who.split()[0]).mkdir()
            keys = list(commands([], d))
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for who in order:
                wd = d/who.split()[0]
                paths = []
                for j, cells in enumerate(cells_list):
                    p = wd/f'nb{j}.ipynb'; p.write_text(json.dumps(notebook(cells))); paths.append(p)
                (wd/'out').mkdir()
                t = time.perf_counter()
                for cmd in commands(paths, wd/'out')[who]:
                    res = subprocess.run(cmd, capture_output=True, text=True, cwd=wd, env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
                    if res.returncode: raise SystemExit(f"{who} failed on {name}: {res.stderr[-800:]}")
                times.setdefault(who, []).append(time.perf_counter() - t)
    return {who: statistics.median(ts) for who, ts in times.items()}

def status_time(rounds):
    "Seconds until `/api/status` answers: the embedded server, and a plain `jupyter server` started the usual way"
    import requests, secrets
    from jupyter_playground.server import LocalServer
    ours, plain = [], []
    for _ in range(rounds):
        t = time.perf_counter(); s = LocalServer().start(); ours.append(time.perf_counter() - t); s.stop()
        with tempfile.TemporaryDirectory() as d:
            tok, port = secrets.token_hex(8), 18000 + secrets.randbelow(2000)
            t = time.perf_counter()
            p = subprocess.Popen([str(BIN/'jupyter-server'), f'--port={port}', '--ip=127.0.0.1', f'--IdentityProvider.token={tok}',
                                  '--no-browser', f'--ServerApp.root_dir={d}', '--allow-root'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                try:
                    if requests.get(f'http://127.0.0.1:{port}/api/status', headers={'Authorization': f'token {tok}'}, timeout=1).ok: break
                except requests.RequestException: time.sleep(0.02)
            plain.append(time.perf_counter() - t)
            p.terminate(); p.wait(10)
    return statistics.median(ours), statistics.median(plain)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true'); ap.add_argument('--rounds', type=int, default=5); ap.add_argument('--json')
    ap.add_argument('--save', action='store_true', help='keep the results in bench/results/command.json, which the README shows')
    a = ap.parse_args()
    rounds, results = (1 if a.quick else a.rounds), []
    print(f"| case | jupyter-playground run | jupyter execute --inplace | papermill | ours / jupyter execute | ours / papermill |\n|---|--:|--:|--:|--:|--:|")
    for name, cells in CASES.items():
        if a.quick and name.startswith('200'): continue
        m = run_case(name, cells, rounds)
        ours, je, pm = m['jupyter-playground run'], m['jupyter execute --inplace'], m['papermill']
        results.append(dict(case=name, ours_s=round(ours, 3), jupyter_execute_s=round(je, 3), papermill_s=round(pm, 3), target=TARGETS[name]))
        print(f"| {name} | {ours:.2f} s | {je:.2f} s | {pm:.2f} s | {ours/je:.2f}x | {ours/pm:.2f}x |", flush=True)
    o, p = status_time(rounds)
    results.append(dict(case='/api/status answers', ours_s=round(o, 3), plain_server_s=round(p, 3)))
    print(f"\n`/api/status` answers after {o:.2f} s (embedded server) against {p:.2f} s (a plain `jupyter server`): {o/p:.2f}x")
    if a.json: Path(a.json).write_text(json.dumps(results, indent=1))
    if a.save and not a.quick:
        import results as kept
        print(f"wrote {kept.save('command', results, rounds=rounds)}")

if __name__ == '__main__': main()
