"The benchmark script runs end to end (`--quick`) and writes its JSON; the numbers themselves are not asserted"
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_bench_quick_runs(tmp_path):
    out = tmp_path/'bench.json'
    r = subprocess.run([sys.executable, str(ROOT/'bench'/'run.py'), '--quick', '--json', str(out)],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())['results']
    whats = ' '.join(x['what'] for x in res)
    for w in ('import', 'round trip', 'tiny executions', 'stream output', 'notebook'): assert w in whats, w
    assert all(x['ours_ms'] > 0 for x in res)
    assert 'targets:' in r.stdout
