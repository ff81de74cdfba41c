"""`jupyter-playground run -j N`: nbclient's two "Parallel Execute" notebooks, each waiting for a file the other writes, pass only when run at once"""
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))
from nbclient_files import nbclient_test_files, NbclientOffline

CMD = str(Path(sys.executable).parent/'jupyter-playground')
NAMES = ['Parallel Execute A.ipynb', 'Parallel Execute B.ipynb']

@pytest.fixture
def pair(tmp_path):
    try: files = nbclient_test_files()
    except NbclientOffline as e: pytest.skip(str(e))
    for n in NAMES: shutil.copy(files/n, tmp_path/n)
    (tmp_path/'lock').mkdir()
    return tmp_path

def run(d, *args):
    env = {**os.environ, 'NBEXECUTE_TEST_PARALLEL_TMPDIR': str(d/'lock')}
    return subprocess.run([CMD, 'run', *[str(d/n) for n in NAMES], '--kernel', 'python3', *args], capture_output=True, text=True, env=env, timeout=120)

def test_parallel_execute_with_two_jobs(pair):
    r = run(pair, '-j', '2')
    assert r.returncode == 0, r.stderr
    assert r.stderr.splitlines()[-3:] == [f'{pair/NAMES[0]}: ok', f'{pair/NAMES[1]}: ok', '2 notebooks: 2 ok, 0 failed'], r.stderr
    for n in NAMES:  # both saved with their outputs, no error in them
        cells = [c for c in json.loads((pair/n).read_text())['cells'] if c['cell_type'] == 'code']
        assert all(c['execution_count'] for c in cells) and not any(o['output_type'] == 'error' for c in cells for o in c['outputs'])

def test_one_job_runs_them_in_turn_so_a_waits_in_vain(pair):
    "The same pair with the default -j 1: A times out waiting for B, B then finds A's file; A's failure does not stop B"
    r = run(pair)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert lines[-3].startswith(f'{pair/NAMES[0]}: cell 4 (start = time.time()): AssertionError: Timed out'), r.stderr
    assert lines[-2:] == [f'{pair/NAMES[1]}: ok', '2 notebooks: 1 ok, 1 failed'], r.stderr
