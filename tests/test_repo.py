"Repository checks: the notebooks are clean, the library matches them, no token is committed, the README's commands are the ones CI runs"
import json, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT/'nbs').glob('*.ipynb'))
BIN = Path(sys.executable).parent

def _tool(name): return str(BIN/name) if (BIN/name).exists() else name

def _copy_project(dst):
    shutil.copy(ROOT/'pyproject.toml', dst)
    shutil.copytree(ROOT/'nbs', dst/'nbs')
    shutil.copytree(ROOT/'jupyter_playground', dst/'jupyter_playground', ignore=shutil.ignore_patterns('__pycache__'))

def test_there_are_notebooks():
    names = {p.name for p in NBS}
    assert {'index.ipynb', '00_server.ipynb', '01_auth.ipynb'} <= names

def test_notebooks_are_clean(tmp_path):
    "`nbdev-clean` changes nothing: notebooks are committed clean"
    _copy_project(tmp_path)
    subprocess.run([_tool('nbdev-clean')], cwd=tmp_path, check=True, capture_output=True)
    dirty = [p.name for p in NBS if (tmp_path/'nbs'/p.name).read_bytes() != p.read_bytes()]
    assert not dirty, f"run nbdev-clean: {dirty}"

def test_library_matches_notebooks(tmp_path):
    "`nbdev-export` changes nothing: the library is exported from the committed notebooks"
    _copy_project(tmp_path)
    subprocess.run([_tool('nbdev-export')], cwd=tmp_path, check=True, capture_output=True)
    mine = {p.relative_to(ROOT): p.read_text() for p in (ROOT/'jupyter_playground').glob('*.py')}
    fresh = {p.relative_to(tmp_path): p.read_text() for p in (tmp_path/'jupyter_playground').glob('*.py')}
    assert set(mine) == set(fresh)
    stale = [str(k) for k in mine if mine[k] != fresh[k]]
    assert not stale, f"run nbdev-export: {stale}"

TOKENISH = re.compile(r'(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])|token=[0-9a-f]{8,}', re.I)

def test_no_token_in_notebook_outputs_or_readme():
    "No committed output, source or README line holds something shaped like a Jupyter token"
    hits = []
    for p in NBS:
        nb = json.loads(p.read_text())
        for i,c in enumerate(nb['cells']):
            texts = [''.join(c['source'])] + [json.dumps(o) for o in c.get('outputs', [])]
            hits += [f"{p.name} cell {i}" for t in texts if TOKENISH.search(t)]
    hits += [f"README.md line {i}" for i,l in enumerate((ROOT/'README.md').read_text().splitlines(), 1) if TOKENISH.search(l)]
    assert not hits, hits

def test_committed_outputs_are_real():
    "The tutorial notebooks carry the outputs of a real run (they are the rendered docs)"
    for p in NBS:
        nb = json.loads(p.read_text())
        code = [c for c in nb['cells'] if c['cell_type'] == 'code' and c['source']]
        shown = [c for c in code if c.get('outputs')]
        assert shown, f"{p.name} has no stored outputs: run `nbdev-test --save`"
        errors = [o for c in code for o in c.get('outputs', []) if o.get('output_type') == 'error']
        assert not errors, f"{p.name} stores an error output"

INSTALL = 'pip install -e ".[dev]" && jupyter-playground demo'
TEST = 'nbdev-test && pytest'

def test_readme_states_the_two_commands_ci_runs():
    readme, ci = (ROOT/'README.md').read_text(), (ROOT/'.ci'/'run').read_text()
    index = ''.join(''.join(c['source']) for c in json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells'])
    for cmd in INSTALL, TEST:
        assert cmd in readme and cmd in index and cmd in ci, cmd

def _names(src:str):
    "The names a cell's code defines (assigned, defined, imported, arguments) and the names it reads"
    import ast, builtins
    tree = ast.parse('\n'.join(l for l in src.splitlines() if not l.lstrip().startswith(('#|', '%', '!'))))
    made = set()
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): made.add(n.name)
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store): made.add(n.id)
        elif isinstance(n, ast.arg): made.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)): made |= {(a.asname or a.name).split('.')[0] for a in n.names}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - set(dir(builtins))
    return made, read

@pytest.mark.parametrize('nb', NBS, ids=[p.stem for p in NBS])
def test_pages_show_what_they_use(nb):
    "A reader can follow a page with what it shows: no visible cell reads a name that only a hidden (`#| hide`) cell made"
    shown, hidden, bad = set(), set(), []
    for i, c in enumerate(json.loads(nb.read_text())['cells']):
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source'])
        made, read = _names(src)
        if src.startswith('#| hide'): hidden |= made; continue
        if miss := sorted((read - shown - made) & hidden): bad.append((i, miss))
        shown |= made
    assert not bad, f"{nb.name}: visible cells use names made only in hidden cells (cell index, names): {bad}"
