"""Conformance with nbclient: every notebook of nbclient's own `tests/files`, run with the options nbclient's tests give it

The notebooks come from nbclient's sdist at a pinned version (`nbclient_files.py`: fetched from PyPI with pip once per
machine, then cached). Each one runs, as `tests/test_client.py` in that sdist runs it,
- `run_notebook`: through `run_notebook` on ONE embedded `LocalServer` shared by the session, rooted at a copy of the
  files folder (so the data files the notebooks read, `python.png`, sit beside them), and
- `cli`: through the real command `jupyter-playground run COPY.ipynb... [--kernel K] [--allow-errors] [--timeout S]`
  as subprocesses (an embedded server per notebook, rooted at the copy's folder; it saves in place), on every case,
  two commands at a time, in the background while the `run_notebook` tests go on. A case expected to fail, or one of
  the parallel pair, runs alone, so its exit status (1) and its message are its own; the others go two invocations per
  set of options (the command's own start-up, 2-3 s of CPU, paid once per invocation; a notebook that does not print
  `<path>: ok` is run again alone from a fresh copy),
and the notebook as saved (read back from the server, or from the file) is compared with the one stored in the sdist:
cell by cell, outputs and execution counts, as nbclient's `assert_notebooks_equal` does, or with the checks nbclient's
test of that notebook makes (`CASES` names the test). Set `CONFORMANCE_NBCLIENT=1` to run nbclient itself through the
same comparisons too (`nbclient-` test ids): the control that shows a difference is ours, not the comparison's.

As nbclient's `run_notebook` test helper does, the stored outputs and execution counts are cleared before the run (so
every output compared was made by this run; `execution_count` becomes null rather than deleted, to keep the file
valid) and the stored metadata is kept (so stale widget state in the file must be replaced by the run's).
The kernels get nbclient's test environment: `COLUMNS=80 LINES=24` (its helper, to fix the traceback width),
`IPYKERNEL_CELL_NAME=<IPY-INPUT>` (its `conftest.py`: the cell's name in tracebacks), `PYDEVD_DISABLE_FILE_VALIDATION=1`
(`test_client.py`), and `NBEXECUTE_TEST_PARALLEL_TMPDIR` (a new folder for each pair of parallel notebooks).
nbclient's `kernel_name='python'` is its native Python kernel: `python3` here (`--kernel python3`); without a
`kernel_name`, the notebook's kernelspec or the server's default, as in nbclient.

Normalisations, each applied to both sides:

| | what is removed or rewritten | why | from |
|---|---|---|---|
| N0 | multi-line strings stored as lists of lines are joined | JSON layout, not content | `nbformat.read` in nbclient's helper |
| N1 | each output's `metadata` removed | e.g. image sizes, `isolated`: display hints that vary | `normalize_output` |
| N2 | memory addresses `0x` + 7 to 16 hex digits -> `<HEXADDR>` (stream text, `text/plain`) | object reprs (`<object at 0x7f...>`) differ per process | `normalize_output` (`0x[0-9a-f]{7,9}`; widened to whole 64-bit addresses) |
| N3 | `model_id` of a widget view -> `<MODEL_ID>` | widget model ids are random per run | `normalize_output` |
| N4 | SVG compared as XML (C14N, whitespace-only text dropped) | attribute order, `<c/>` vs `<c></c>` | `normalize_output` (xmltodict there) |
| N5 | string data that is base64 re-encoded | line breaks inside base64 (`image/png`) | `normalize_output` (`normalize_base64`) |
| N6 | tracebacks: ANSI escapes stripped, the cell's name in a frame header (`<ipython-input-1-ab> in <module>`, `Cell In[3], line 2`, `Input In [3]`) -> `<IPY-INPUT>` | colours; execution counts and file names in frame headers | `normalize_output` (`strip_ansi`, `ipython_input_pat`, `ipython8_input_pat`) |
| N7 | consecutive stream outputs of one name joined | the kernel may send one `print` as two messages ("hi2", "\\n"): nbclient's `coalesce_streams`, JupyterLab when it saves | beyond nbclient's tests (needed by `Output.ipynb`, which nbclient 0.10.4's tests do not run) |
| N8 | a widget view sent as `execute_result` is compared as `display_data`, without `execution_count` | ipywidgets 8 shows a widget that ends a cell through `_repr_mimebundle_` (a result); ipywidgets 7, which wrote these files, through `_ipython_display_` (a display) | beyond nbclient's tests (`Output.ipynb`) |

Widget state (`metadata.widgets['application/vnd.jupyter.widget-state+json']`, for `JupyterWidgets.ipynb` and
`Output.ipynb`): nbclient's `test_widgets` checks (every model displayed is in the state with `model_name`,
`model_module`, `state`; `version_major`, `version_minor`), every `IPY_MODEL_` reference in the saved state resolves,
then the stored and saved states are walked together from the views displayed in the cells (paired by cell and
position, then along the references), which also makes the comparison independent of model ids:

| | what is removed or rewritten | why |
|---|---|---|
| W1 | model ids, and `IPY_MODEL_<id>` references -> `<MODEL_k>`, numbered in the order the walk reaches them | random per run |
| W2 | stored models the walk does not reach are not compared; the saved state must hold exactly as many models as it reaches | JupyterLab kept models of earlier runs in the file (42 stored in `Output.ipynb`, 14 reachable); nbclient saves the live ones (14) |
| W3 | `model_module_version` not compared | ipywidgets 7 wrote `1.x`, ipywidgets 8 writes `2.0.0` |
| W4 | a `LabelModel`'s `style` is a `LabelStyleModel` (stored: `DescriptionStyleModel`) | renamed in ipywidgets 8 |
| W6 | a displayed view whose model the stored state lacks is paired with the stored model of its `model_name` that no other model refers to, if there is exactly one | `JupyterWidgets.ipynb` was saved with the outputs of one run and the state of another (view `f46f26…`, state `a72770…`) |
| W5 | state compared on the keys the file stores (frontends drop defaults and `_` keys when saving), except `context_menu` (gone in ipywidgets 8); an `OutputModel`'s `outputs` always (missing: `[]`), normalised as cell outputs (N0-N8) | the captured outputs are what an Output widget shows |
"""
import os, re, sys, copy, json, time, shutil, base64, datetime, threading, subprocess
from dataclasses import dataclass, field
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree.ElementTree import canonicalize
import pytest
from nbclient_files import NBCLIENT_VERSION, nbclient_test_files, NbclientOffline, NbclientFetchError

# ---------------------------------------------------------------- what runs, with which options (from nbclient's tests/test_client.py)
PY = {'kernel_name': 'python'}

@dataclass
class Case:
    name: str                  # the notebook in nbclient's tests/files
    opts: dict                 # the NotebookClient options nbclient's test uses
    tests: str                 # the nbclient tests mirrored
    raises: str = None         # None: completes; 'error': a cell raised; 'timeout'; 'died': the kernel died
    says: tuple = ()           # what the error message must contain (for the CLI: its stderr)
    compare: bool = True       # compare every cell's outputs and execution count with the stored ones
    checks: tuple = ()         # more checks, each `check(stored, saved) -> list of problems`
    variant: str = ''          # tells two runs of one notebook apart
    @property
    def id(self): return f"{self.name}({self.variant})" if self.variant else self.name
    @property
    def file(self): return f"{Path(self.name).stem} ({self.variant}).ipynb" if self.variant else self.name
    @property
    def kernel(self): return 'python3' if self.opts.get('kernel_name') == 'python' else None
    @property
    def timeout(self): return self.opts.get('timeout')
    @property
    def allow_errors(self): return self.opts.get('allow_errors', False)

# ---------------------------------------------------------------- normalisations (the table in the module docstring)
ADDR = re.compile(r"0x[0-9a-f]{7,16}")  # N2
IPY_INPUT = re.compile(r"(<ipython-input-\d+-[0-9a-f]+>|<IPY-INPUT>) in (<module>|<cell line: \d>\(\))")  # N6, nbclient's
IPY8_INPUT = re.compile(r"((Cell|Input) In\s?\[\d+\]|<IPY-INPUT>), (in )?(line \d|<module>|<cell line: \d>\(\))")  # N6, nbclient's
WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'
JSON_MIME = re.compile(r'^application/(.+\+)?json$')

def _strip_ansi(s):
    from nbconvert.filters import strip_ansi  # nbclient's tests use this one
    return strip_ansi(s)

def _joined(v): return ''.join(v) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v  # N0

def _b64(s:str) -> str:  # N5, nbclient's `normalize_base64`
    try: return base64.b64encode(base64.b64decode(s.encode('ascii'))).decode('ascii')
    except (ValueError, TypeError): return s

def normalize_output(o:dict) -> dict:
    "One output as nbclient's `normalize_output` leaves it (N0-N6)"
    o = copy.deepcopy(dict(o))
    o.pop('metadata', None)  # N1
    if 'text' in o: o['text'] = ADDR.sub('<HEXADDR>', _joined(o['text']))
    data = o.get('data', {})
    for k in list(data):
        if not JSON_MIME.match(k): data[k] = _joined(data[k])
    if 'text/plain' in data: data['text/plain'] = ADDR.sub('<HEXADDR>', data['text/plain'])
    if WIDGET_VIEW in data: data[WIDGET_VIEW] = {**data[WIDGET_VIEW], 'model_id': '<MODEL_ID>'}  # N3
    if 'image/svg+xml' in data:  # N4
        try: data['image/svg+xml'] = canonicalize(data['image/svg+xml'], strip_text=True)
        except Exception: pass  # not XML: compared as it is
    for k,v in data.items():
        if isinstance(v, str): data[k] = _b64(v)
    if 'traceback' in o: o['traceback'] = [IPY8_INPUT.sub('<IPY-INPUT>', IPY_INPUT.sub('<IPY-INPUT>', _strip_ansi(l))) for l in o['traceback']]
    return o

def normalize_outputs(outputs:list) -> list:
    "A cell's (or an Output widget's) outputs, normalised: N8, then N7, then each output through N0-N6"
    res = []
    for o in outputs or []:
        o = dict(o)
        if o.get('output_type') == 'execute_result' and WIDGET_VIEW in o.get('data', {}):  # N8
            o['output_type'] = 'display_data'; o.pop('execution_count', None)
        if (o.get('output_type') == 'stream' and res and res[-1].get('output_type') == 'stream'
                and res[-1].get('name') == o.get('name')):  # N7
            res[-1] = {**res[-1], 'text': _joined(res[-1]['text']) + _joined(o['text'])}
        else: res.append(o)
    return [normalize_output(o) for o in res]

def _show(v, n=600) -> str:
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + f'... ({len(s)} chars)'

def compare_notebooks(stored:dict, saved:dict) -> list:
    "The differences nbclient's `assert_notebooks_equal` looks for: number of cells, then each cell's outputs and execution count"
    e, g = stored['cells'], saved['cells']
    if len(e) != len(g): return [f"{len(g)} cells, stored {len(e)}"]
    problems = []
    for i,(ec,gc) in enumerate(zip(e, g)):
        eo, go = normalize_outputs(ec.get('outputs', [])), normalize_outputs(gc.get('outputs', []))
        if eo != go:
            problems.append(f"cell {i} outputs differ ({_first_line(ec)}):\n      stored {_show(eo)}\n      saved  {_show(go)}")
        if ec.get('execution_count') != gc.get('execution_count'):
            problems.append(f"cell {i} execution_count {gc.get('execution_count')}, stored {ec.get('execution_count')} ({_first_line(ec)})")
    return problems

def _first_line(cell) -> str: return repr((_joined(cell.get('source', '')).strip().splitlines() or [''])[0][:60])

# ---------------------------------------------------------------- widget state (W1-W6)
REMOVED_IN_IPYWIDGETS_8 = {'context_menu'}                                 # W5
RENAMED_IN_IPYWIDGETS_8 = {('LabelModel', 'style', 'DescriptionStyleModel'): 'LabelStyleModel'}  # W4
REF = re.compile(r'^IPY_MODEL_(.+)$')

def _widget_state(nb:dict) -> dict|None: return (nb.get('metadata', {}).get('widgets') or {}).get(WIDGET_STATE)

def _views(nb:dict) -> list:
    "The widget model ids displayed in `nb`'s cells: one list per cell, in output order"
    return [[o['data'][WIDGET_VIEW]['model_id'] for o in c.get('outputs', []) if WIDGET_VIEW in o.get('data', {})] for c in nb['cells']]

def _refs(v) -> list:
    "The model ids `IPY_MODEL_` strings in `v` name, in order"
    if isinstance(v, str): return [m.group(1)] if (m := REF.match(v)) else []
    if isinstance(v, list): return [r for x in v for r in _refs(x)]
    if isinstance(v, dict): return [r for k in sorted(v) for r in _refs(v[k])]
    return []

def _canon(v, names:dict):
    "`v` with `IPY_MODEL_<id>` replaced by the walk's name for that model (W1)"
    if isinstance(v, str): return names.get(m.group(1), f'<unreached {m.group(1)}>') if (m := REF.match(v)) else v
    if isinstance(v, list): return [_canon(x, names) for x in v]
    if isinstance(v, dict): return {k: _canon(x, names) for k,x in v.items()}
    return v

def check_widget_state(stored:dict, saved:dict) -> list:
    "widget state: differences between the state stored in the file and the one the run saved (nbclient's `test_widgets`, then W1-W6)"
    problems, ws, wg = [], _widget_state(stored) or {}, _widget_state(saved)
    if wg is None: return [f"no metadata.widgets['{WIDGET_STATE}'] saved (stored: {len(ws.get('state', {}))} models)"]
    gstate = wg.get('state', {})
    # nbclient's test_widgets
    for k in [k for c in _views(saved) for k in c]:
        if k not in gstate: problems.append(f"widget {k} is displayed but not in the saved state")
        elif missing := [x for x in ('model_name', 'model_module', 'state') if x not in gstate[k]]:
            problems.append(f"widget {k} in the saved state lacks {missing}")
    for x in ('version_major', 'version_minor'):
        if x not in wg: problems.append(f"the saved widget state has no {x}")
        elif wg[x] != ws.get(x): problems.append(f"widget state {x} {wg[x]}, stored {ws.get(x)}")
    # every reference resolves
    for k,m in gstate.items():
        if bad := [r for r in _refs(m.get('state', {})) if r not in gstate]: problems.append(f"widget {k} refers to models not saved: {bad}")
    # the walk (W1-W6)
    sstate, names_s, names_g, todo = ws.get('state', {}), {}, {}, []
    referred = {r for m in sstate.values() for r in _refs(m.get('state', {}))}
    def pair(s, g, why, parent=None):
        if s in names_s: return
        if g not in gstate: return problems.append(f"{why}: the saved state lacks model {g}")
        if s not in sstate and parent is None:  # W6: the file's outputs and state come from different runs
            alike = [k for k in sstate if k not in referred and k not in names_s and sstate[k].get('model_name') == gstate[g].get('model_name')]
            if len(alike) != 1: return problems.append(f"{why}: the stored state lacks model {s}, and has {len(alike)} unused {gstate[g].get('model_name')}s to compare with instead")
            s = alike[0]
        if s not in sstate: return problems.append(f"{why}: the stored state lacks model {s}")
        if g in names_g: return problems.append(f"{why}: saved model {g} is also {names_g[g]}, where the stored state has two models")
        names_s[s] = names_g[g] = f'<MODEL_{len(names_s)}>'
        todo.append((s, g, why, parent))
    vs, vg = _views(stored), _views(saved)
    for i,(cs,cg) in enumerate(zip(vs, vg)):
        if len(cs) != len(cg): problems.append(f"cell {i} displays {len(cg)} widgets, stored {len(cs)}")
        for s,g in zip(cs, cg): pair(s, g, f"widget displayed in cell {i}")
    while todo:
        s, g, why, parent = todo.pop(0)
        ms, mg, name = sstate[s], gstate[g], names_s[s]
        sname = RENAMED_IN_IPYWIDGETS_8.get((*parent, ms.get('model_name')), ms.get('model_name')) if parent else ms.get('model_name')
        if (ms.get('model_module'), sname) != (mg.get('model_module'), mg.get('model_name')):
            problems.append(f"{name} ({why}) is {mg.get('model_module')} {mg.get('model_name')}, stored {ms.get('model_module')} {sname}")
            continue
        st, gt = ms.get('state', {}), mg.get('state', {})
        keys = [k for k in sorted(st) if k not in REMOVED_IN_IPYWIDGETS_8]
        if mg.get('model_name') == 'OutputModel' and 'outputs' not in keys: keys.append('outputs')
        for k in keys:
            if k not in gt: problems.append(f"{name} {mg.get('model_name')} ({why}) has no '{k}' in its saved state (stored {_show(st[k], 200)})"); continue
            for rs,rg in zip(_refs(st.get(k)), _refs(gt[k])): pair(rs, rg, f"{name}.{k}", (mg.get('model_name'), k))
            if k == 'outputs' and mg.get('model_name') == 'OutputModel':
                eo, go = normalize_outputs(st.get(k, [])), normalize_outputs(gt[k])
                if eo != go: problems.append(f"{name} Output widget ({why}) captured other outputs:\n      stored {_show(eo)}\n      saved  {_show(go)}")
            elif _canon(st[k], names_s) != _canon(gt[k], names_g):
                problems.append(f"{name} {mg.get('model_name')}.{k} ({why}) is {_show(_canon(gt[k], names_g), 200)}, stored {_show(_canon(st[k], names_s), 200)}")
    if len(gstate) != len(names_s):
        kinds = Counter(m.get('model_name') for m in gstate.values())
        problems.append(f"the saved widget state holds {len(gstate)} models ({dict(kinds)}), the stored one {len(names_s)} reachable from the cells"
                        f" ({len(sstate)} in all)")
    return problems

# ---------------------------------------------------------------- checks of single nbclient tests
def check_disable_stdin(stored, saved) -> list:
    "test_disable_stdin: one cell, one output: StdinNotImplementedError with ipykernel's message"
    if len(saved['cells']) != 1 or len(outs := saved['cells'][0].get('outputs', [])) != 1: return [f"expected 1 cell with 1 output, saved {_show([c.get('outputs') for c in saved['cells']])}"]
    o, want = outs[0], ('error', 'StdinNotImplementedError', 'raw_input was called, but this frontend does not support input requests.')
    return [] if (o.get('output_type'), o.get('ename'), o.get('evalue')) == want else [f"the output is {_show(o)}, expected {want}"]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
def check_execution_timing(stored, saved) -> list:
    "test_execution_timing: cell 1's `metadata.execution` timestamps against the times cells 2 and 3 printed, within 100 ms"
    c = saved['cells']
    t = c[1].get('metadata', {}).get('execution')
    if not t: return [f"cell 1 has no metadata.execution (its metadata: {_show(c[1].get('metadata', {}))})"]
    try:
        get = lambda s: datetime.datetime.strptime(s, TIME_FORMAT)
        busy, inp, reply, idle = (get(t[k]) for k in ('iopub.status.busy', 'iopub.execute_input', 'shell.execute_reply', 'iopub.status.idle'))
        start, end = (get(_joined(c[i]['outputs'][0]['text'])) for i in (2, 3))
    except (KeyError, IndexError, ValueError, TypeError) as e: return [f"metadata.execution {_show(t)} or the printed times are not as nbclient writes them: {e!r}"]
    d, problems = datetime.timedelta(milliseconds=100), []
    for what, a, b in [('iopub.status.busy', busy, start), ('iopub.execute_input', inp, start), ('shell.execute_reply', reply, end), ('iopub.status.idle', idle, end)]:
        if not a - b < d: problems.append(f"{what} {a} is {(a - b).total_seconds():.3f} s after the time the cell printed")
    return problems

def check_language_info(stored, saved) -> list:
    "test_populate_language_info: a notebook without language_info gets the kernel's"
    li = saved.get('metadata', {}).get('language_info')
    return [] if li and li.get('name') == 'python' else [f"metadata.language_info is {_show(li)}: the kernel's (name 'python') was not written"]

def check_parallel(stored, saved) -> list:
    "test_parallel_notebooks: each of the pair completes (its last cell waits 5 s for the other's file); nothing printed"
    code = [c for c in saved['cells'] if c['cell_type'] == 'code']
    problems = [f"code cell {i} printed {_show(normalize_outputs(c.get('outputs')))}" for i,c in enumerate(code) if c.get('outputs')]
    if (got := [c.get('execution_count') for c in code]) != list(range(1, len(code) + 1)): problems.append(f"execution counts {got}: not every cell ran")
    return problems

def saved_like(*expect):
    "A check that the cells listed in `expect` ((cell index, outputs as (output_type, ename, evalue) or stream text, execution_count)) were saved so"
    def check(stored, saved) -> list:
        problems = []
        for i, outs, count in expect:
            c = saved['cells'][i]
            got = [(o['output_type'], o.get('ename'), o.get('evalue')) if o['output_type'] == 'error' else _joined(o.get('text', o.get('data'))) for o in c.get('outputs', [])]
            if got != list(outs): problems.append(f"cell {i} saved with outputs {_show(got)}, expected {_show(list(outs))}")
            if c.get('execution_count') != count: problems.append(f"cell {i} saved with execution_count {c.get('execution_count')}, expected {count}")
        return problems
    check.__doc__ = f"the outputs so far are saved: {expect}"
    return check

def check_autokill(stored, saved) -> list:
    """the cell that killed the kernel: saved with no outputs and its execution count, 1 (nbclient's, from `execute_input`).
    The cell kills its kernel right after the kernel queued `execute_input` (and `status: busy` before it) for its IOPub
    thread; on a loaded machine the kernel can die before that thread sends them (both, or only `execute_input`: seen in
    CI on a clean clone), and then nbclient has no count either. So the count may be missing only if the saved timing
    shows that `iopub.execute_input` never arrived (the message that carries the count); with it, the count must be 1"""
    c = saved['cells'][0]
    t = c.get('metadata', {}).get('execution') or {}
    problems = [f"cell 0 saved with outputs {_show(c.get('outputs'))}, expected none"] if c.get('outputs') else []
    lost = c.get('execution_count') is None and 'iopub.execute_input' not in t
    if c.get('execution_count') != 1 and not lost:
        problems.append(f"cell 0 saved with execution_count {c.get('execution_count')}, expected 1 (its metadata.execution: {_show(t)})")
    return problems

ZERO_DIV = ('error', 'ZeroDivisionError', 'division by zero')
CASES = [
    Case('Other Comms.ipynb', PY, 'test_run_all_notebooks'),
    Case('Clear Output.ipynb', PY, 'test_run_all_notebooks'),
    Case('Empty Cell.ipynb', PY, 'test_run_all_notebooks'),
    Case('Factorials.ipynb', PY, 'test_run_all_notebooks'),
    Case('HelloWorld.ipynb', PY, 'test_run_all_notebooks, test_empty_path, test_execute_function, test_process_message_wrapper; '
         'test_populate_language_info (this notebook has no language_info)', checks=(check_language_info,)),
    Case('Inline Image.ipynb', PY, 'test_run_all_notebooks (reads python.png beside it)'),
    Case('Interrupt.ipynb', {**PY, 'timeout': 3, 'interrupt_on_timeout': True, 'allow_errors': True},
         'test_run_all_notebooks (the timed-out cell is interrupted, its KeyboardInterrupt recorded, the run goes on)'),
    Case('Interrupt.ipynb', {'timeout': 1}, 'test_timeout (the message previews the cell)', raises='timeout', says=('while True: continue',),
         compare=False, checks=(saved_like((1, (), None)),), variant='timeout=1'),
    Case('JupyterWidgets.ipynb', PY, 'test_run_all_notebooks, test_widgets', checks=(check_widget_state,)),
    Case('Skip Exceptions with Cell Tags.ipynb', PY, 'test_run_all_notebooks (raises-exception tag)'),
    Case('Skip Exceptions.ipynb', {**PY, 'allow_errors': True}, 'test_run_all_notebooks'),
    Case('Skip Exceptions.ipynb', {'allow_errors': False}, 'test_allow_errors (the message shows the cell\'s source)', raises='error',
         says=('Exception: message', '# üñîçø∂é'), compare=False,
         checks=(saved_like((0, [('error', 'Exception', 'message')], 1), (1, (), None)),), variant='allow_errors=False'),
    Case('Skip Execution with Cell Tag.ipynb', PY, 'test_run_all_notebooks (skip-execution tag)'),
    Case('SVG.ipynb', PY, 'test_run_all_notebooks'),
    Case('Unicode.ipynb', PY, 'test_run_all_notebooks'),
    Case('UnicodePy3.ipynb', PY, 'test_run_all_notebooks, test_empty_kernel_name (the kernel is the same one either way)'),
    Case('update-display-id.ipynb', PY, 'test_run_all_notebooks'),
    Case('Check History in Memory.ipynb', PY, 'test_run_all_notebooks'),
    Case('Disable Stdin.ipynb', {'allow_errors': True}, 'test_disable_stdin', compare=False, checks=(check_disable_stdin,)),
    Case('Sleep1s.ipynb', PY, 'test_execution_timing', compare=False, checks=(check_execution_timing,)),
    Case('Autokill.ipynb', {}, 'test_kernel_death_during_execution, test_error_notebook_hook', raises='died', compare=False,
         checks=(check_autokill,)),
    Case('Error.ipynb', {}, 'test_error_execution_hook_error, test_error_async_execution_hook', raises='error', says=('ZeroDivisionError',),
         compare=False, checks=(saved_like((0, [ZERO_DIV], 1)),)),
    Case('Parallel Execute A.ipynb', PY, 'test_parallel_notebooks (run at the same time as B)', compare=False, checks=(check_parallel,)),
    Case('Parallel Execute B.ipynb', PY, 'test_parallel_notebooks (run at the same time as A)', compare=False, checks=(check_parallel,)),
    Case('Output.ipynb', PY, 'none: nbclient 0.10.4 runs it in no test (nbclient itself differs from the file until N7, N8); '
         'run as test_run_all_notebooks would, for issue 15 (Output widget capture)', checks=(check_widget_state,)),
]
PARALLEL = ('Parallel Execute A.ipynb', 'Parallel Execute B.ipynb')

# what nbclient's tests do with these notebooks that is not mirrored here, and why (counted in the summary)
NOT_MIRRORED = [
    ('Skip Exceptions with Cell Tags.ipynb', 'test_force_raise_errors', "`force_raise_errors=True` (fail even on `raises-exception` cells): run_notebook has no such option"),
    ('Interrupt.ipynb', 'test_timeout_func', "`timeout_func` (a timeout computed from each cell's source): run_notebook has no such option"),
    ('Interrupt.ipynb', 'test_kernel_death_after_timeout', "patches the kernel manager's `is_alive`: the kernel manager is inside the server here"),
    ('HelloWorld.ipynb', 'test_many_parallel_notebooks, test_many_async_parallel_notebooks', "4 and 8 nbclient processes at once sharing one IPython "
     "history database: a property of nbclient's own processes; our kernels keep history in memory (Check History in Memory.ipynb)"),
    ('HelloWorld.ipynb', 'test_reset_kernel_client, test_cleanup_kernel_client, test_custom_kernel_manager, test_*execution_hook', "nbclient's Python API (kernel clients, managers, hooks): no counterpart"),
    ('UnicodePy3.ipynb', 'test_empty_kernel_name (second half)', "`kernel_name=None` must raise traitlets' TraitError: nbclient's option validation"),
]

def test_every_notebook_is_covered(files):
    "Each notebook of nbclient's tests/files is run here (a new version's new notebook must be added to CASES)"
    on_disk = {p.name for p in files.glob('*.ipynb')}
    assert on_disk == {c.name for c in CASES}, f"in tests/files but not in CASES: {sorted(on_disk - {c.name for c in CASES})}; in CASES only: {sorted({c.name for c in CASES} - on_disk)}"

# ---------------------------------------------------------------- set-up: the files, the environment, the runners
@pytest.fixture(scope='session')
def files() -> Path:
    "nbclient's tests/files, from the cache (downloaded from PyPI the first time on this machine)"
    try: return nbclient_test_files()
    except NbclientOffline as e: why, offline = str(e), True
    except NbclientFetchError as e: why, offline = str(e), False
    if offline: pytest.skip(why)  # only when running offline was said explicitly
    pytest.fail(why, pytrace=False)

def kernel_env(parallel_dir) -> dict:
    "The environment nbclient's tests give their kernels"
    return dict(COLUMNS='80', LINES='24', IPYKERNEL_CELL_NAME='<IPY-INPUT>', PYDEVD_DISABLE_FILE_VALIDATION='1',
                NBEXECUTE_TEST_PARALLEL_TMPDIR=str(parallel_dir))

def _cleaned(nb:dict) -> dict:
    "`nb` with its code cells' outputs and execution counts cleared, metadata kept, as nbclient's helper runs it"
    nb = copy.deepcopy(nb)
    for c in nb['cells']:
        if c['cell_type'] == 'code': c['outputs'], c['execution_count'] = [], None
    return nb

def _write_cleaned(files:Path, case:Case, to:Path):
    "Write `case`'s notebook, cleaned, as `to/case.file`"
    (to/case.file).write_text(json.dumps(_cleaned(json.loads((files/case.name).read_text(encoding='utf-8'))), indent=1, ensure_ascii=False), encoding='utf-8')

def _root(files:Path, to:Path) -> Path:
    "A copy of the files folder, every case's notebook cleaned, under its case's file name"
    shutil.copytree(files, to, ignore=shutil.ignore_patterns('.*'))
    for c in CASES: _write_cleaned(files, c, to)
    return to

@dataclass
class Result:
    saved: dict                # the notebook as saved by the run
    raised: str = None         # None (completed), 'error', 'timeout', 'died', 'cli-failed' (exit status 1), or 'other: <what>'
    message: str = ''          # the exception's text (the CLI: its stderr)
    seconds: float = 0
    extra: list = field(default_factory=list)  # problems found by the runner itself

def _kind_of(e:BaseException) -> str:
    from jupyter_playground.notebooks import CellExecutionError
    from jupyter_playground.channels import ExecutionTimeout, KernelDied
    for cls, kind in ((CellExecutionError, 'error'), (ExecutionTimeout, 'timeout'), (KernelDied, 'died')):
        if isinstance(e, cls): return kind
    return f"other: {type(e).__name__}: {e}"

class Runner:
    "Runs cases through one path in a pool of `workers` threads; `submit` starts a case (or its group), `result` waits for it"
    def __init__(self, workers=1): self.pool, self.jobs, self.lock = ThreadPoolExecutor(workers), {}, threading.Lock()
    def groups(self, cases:list) -> list:
        "How `cases` are run: the two parallel notebooks together, every other case alone"
        pair = [c for c in cases if c.name in PARALLEL]
        return ([pair] if pair else []) + [[c] for c in cases if c.name not in PARALLEL]
    def submit_all(self, cases:list):
        with self.lock:
            for g in self.groups([c for c in cases if c.id not in self.jobs]):
                f = self.pool.submit(self.run_group, g)
                for c in g: self.jobs[c.id] = f
    def result(self, case:Case) -> Result:
        if case.id not in self.jobs: self.submit_all([c for c in CASES if c.name in PARALLEL] if case.name in PARALLEL else [case])
        return self.jobs[case.id].result()[case.id]
    def run_group(self, group:list) -> dict:
        "Run the cases of `group` at the same time (each in its own thread): {case id: Result}"
        if len(group) == 1: return {group[0].id: self.run_one(group[0])}
        out = {}
        ts = [threading.Thread(target=lambda c=c: out.__setitem__(c.id, self.run_one(c))) for c in group]
        for t in ts: t.start()
        for t in ts: t.join()
        return out
    def close(self): self.pool.shutdown(wait=True, cancel_futures=True)

class RunNotebook(Runner):
    "`run_notebook` on the session's one LocalServer"
    def __init__(self, srv): super().__init__(1); self.srv = srv
    def run_one(self, case:Case) -> Result:
        from jupyter_playground.notebooks import run_notebook
        jp, t, raised, msg = self.srv.client(), time.monotonic(), None, ''
        try: run_notebook(jp, case.file, kernel=case.kernel, timeout=case.timeout, allow_errors=case.allow_errors, progress=False)
        except Exception as e: raised, msg = _kind_of(e), f"{type(e).__name__}: {e}"
        secs = time.monotonic() - t
        return Result(jp.contents.get(case.file, type='notebook')['content'], raised, msg, secs)

class CLI(Runner):
    """`jupyter-playground run COPY.ipynb... [options]` as subprocesses, two at a time. The notebooks expected to complete
    that take the same options go in a few invocations (each still runs on its own embedded server, but the command's
    start-up, 2-3 s of CPU with its `nbformat` import, is paid once per invocation); when such an invocation fails, each
    of its notebooks that did not print `<path>: ok` runs again alone (from a fresh copy), so that every result is its own"""
    def __init__(self, files:Path, root:Path, env:dict, batches:int=2):
        super().__init__(2)
        self.files, self.root, self.env, self.batches = files, root, env, batches
        self.cmd = shutil.which('jupyter-playground', path=os.path.dirname(sys.executable)) or shutil.which('jupyter-playground')
    def options(self, case:Case) -> list:
        return [*(['--kernel', case.kernel] if case.kernel else []), *(['--allow-errors'] if case.allow_errors else []),
                *(['--timeout', str(case.timeout)] if case.timeout else [])]
    def groups(self, cases:list) -> list:
        alone = [c for c in cases if c.raises or c.name in PARALLEL]
        batched = {}
        for c in cases:
            if c not in alone: batched.setdefault(tuple(self.options(c)), []).append(c)
        out = [g[i::self.batches] for g in batched.values() for i in range(min(self.batches, len(g)))]
        return out + super().groups(alone)
    def run_group(self, group:list) -> dict:
        if len(group) == 1 or group[0].name in PARALLEL: return super().run_group(group)
        rc, err, secs = self.invoke(group)
        said = set(err.splitlines())  # a notebook that printed "<path>: ok" completed: its result is its own, whatever came after it
        done = {c.id: self.result_of(c, 0, ok, secs / len(group)) for c in group if (ok := f"{self.root/c.file}: ok") in said}
        for c in group:
            if c.id not in done: _write_cleaned(self.files, c, self.root)  # the failed invocation may have saved it
        return done | {c.id: self.run_one(c) for c in group if c.id not in done}
    def invoke(self, cases:list) -> tuple:
        "Run the command on `cases` (which share their options): (exit status, stderr, seconds)"
        t = time.monotonic()
        args = [self.cmd, 'run', *[str(self.root/c.file) for c in cases], *self.options(cases[0])]
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=120 + 60 * len(cases), env=self.env, cwd=self.root, stdin=subprocess.DEVNULL)
            return r.returncode, r.stderr, time.monotonic() - t
        except subprocess.TimeoutExpired as e: return None, f"did not finish in {e.timeout} s; stderr: {e.stderr}", time.monotonic() - t
    def run_one(self, case:Case) -> Result: return self.result_of(case, *self.invoke([case]))
    def result_of(self, case:Case, rc, err:str, secs:float) -> Result:
        raised = None if rc == 0 else 'cli-failed' if rc == 1 and case.raises else f"other: exit status {rc}"
        extra = [f"a Python traceback on stderr:\n{err[-1500:]}"] if 'Traceback (most recent call last)' in err and not case.allow_errors else []
        return Result(json.loads((self.root/case.file).read_text(encoding='utf-8')), raised, err, secs, extra)

_NBCLIENT = r"""
import sys, json, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError
path, root, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
nb, raised, msg = nbformat.read(path, 4), None, ''
try: NotebookClient(nb, resources={'metadata': {'path': root}}, **opts).execute()
except Exception as e:
    raised = ('error' if isinstance(e, CellExecutionError) else 'timeout' if isinstance(e, TimeoutError)
              else 'died' if isinstance(e, DeadKernelError) else f"other: {type(e).__name__}: {e}")
    msg = f"{type(e).__name__}: {e}"
nbformat.write(nb, path)
print(json.dumps([raised, msg]))
"""

class NbclientRunner(Runner):
    "nbclient itself (the control, with CONFORMANCE_NBCLIENT=1), in a subprocess per notebook: a hang there is a timeout, not a stuck test session"
    def __init__(self, root:Path, env:dict): super().__init__(1); self.root, self.env = root, env
    def run_one(self, case:Case) -> Result:
        t = time.monotonic()
        try:
            r = subprocess.run([sys.executable, '-c', _NBCLIENT, str(self.root/case.file), str(self.root), json.dumps(case.opts)],
                               capture_output=True, text=True, timeout=180, env=self.env, cwd=self.root, stdin=subprocess.DEVNULL)
            raised, msg = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else (f"other: exit status {r.returncode}", r.stderr[-2000:])
        except subprocess.TimeoutExpired: raised, msg = 'other: nbclient did not finish in 180 s', ''
        return Result(json.loads((self.root/case.file).read_text(encoding='utf-8')), raised, msg, time.monotonic() - t)

RUNNERS = ['run_notebook', 'cli'] + (['nbclient'] if os.environ.get('CONFORMANCE_NBCLIENT') == '1' else [])

@pytest.fixture(scope='session')
def runners(files, tmp_path_factory, request):
    "The runners, started lazily; the CLI runs start at once in the background (two at a time) if any CLI test was selected"
    from jupyter_playground.server import LocalServer
    made, srv = {}, None
    base = tmp_path_factory.mktemp('conformance')
    def get(name):
        nonlocal srv
        if name in made: return made[name]
        d = base/name; d.mkdir()
        env = {**os.environ, **kernel_env(d/'parallel')}; (d/'parallel').mkdir()
        root = _root(files, d/'files')
        if name == 'run_notebook':
            with pytest.MonkeyPatch.context() as m:  # the server (and so its kernels) gets the environment; this process keeps its own
                for k,v in kernel_env(d/'parallel').items(): m.setenv(k, v)
                srv = LocalServer(root_dir=root).start()
            made[name] = RunNotebook(srv)
        elif name == 'cli': made[name] = CLI(files, root, env)
        else: made[name] = NbclientRunner(root, env)
        return made[name]
    cli_cases = [i.callspec.params['case'] for i in request.session.items
                 if getattr(i, 'callspec', None) and i.callspec.params.get('runner') == 'cli' and isinstance(i.callspec.params.get('case'), Case)]
    if cli_cases: get('cli').submit_all(cli_cases)  # in the background, while the run_notebook tests go on
    yield get
    for r in made.values(): r.close()
    if srv: srv.stop()

# ---------------------------------------------------------------- the test, and the summary
OUTCOMES = {}  # (runner, case id) -> 'match' or 'differ'

@pytest.fixture(scope='module', autouse=True)
def _report(counts):
    yield
    if not OUTCOMES: return
    n = len({c.name for c in CASES})
    per = {r: [v for (rr, _), v in OUTCOMES.items() if rr == r] for r in RUNNERS}
    said = ', '.join(f"{p.count('match')}/{len(p)} match through {'the CLI' if r == 'cli' else r}" for r,p in per.items() if p)
    counts('nbclient conformance', f"nbclient {NBCLIENT_VERSION} tests/files: {n} notebooks in {len(CASES)} runs with nbclient's options "
                                   f"({len(NOT_MIRRORED)} uses of them not mirrored, listed in NOT_MIRRORED); {said}")

# Output.ipynb's kernelspec has no `name`: the runner warns and saves it as the server accepts it (issue 15, item 3)
@pytest.mark.filterwarnings('ignore:.*does not follow the nbformat schema')
@pytest.mark.parametrize('runner,case', [(r, c) for r in RUNNERS for c in CASES], ids=[f"{r}-{c.id}" for r in RUNNERS for c in CASES])
def test_conformance(runner, case, runners, files):
    "Run `case` through `runner` and compare the notebook it saved with the one stored in nbclient's sdist"
    r = runners(runner).result(case)
    stored = json.loads((files/case.name).read_text(encoding='utf-8'))
    problems = list(r.extra)
    want = None if case.raises is None else ('cli-failed' if runner == 'cli' else case.raises)
    if r.raised != want:
        problems.append(f"expected {'to complete' if want is None else f'to raise ({case.raises})' if runner != 'cli' else 'exit status 1'}, "
                        f"got {'completion' if r.raised is None else r.raised}{': ' + r.message[-1500:] if r.message else ''}")
    elif want:
        said = _strip_ansi(r.message)  # as test_allow_errors reads it
        for s in case.says + ((case.file,) if runner == 'cli' else ()):
            if s not in said: problems.append(f"the error message does not say {s!r}: {said[-1500:]!r}")
    if case.compare: problems += compare_notebooks(stored, r.saved)
    for check in case.checks: problems += [f"{check.__doc__.split(':')[0]}: {p}" for p in check(stored, r.saved)]
    OUTCOMES[(runner, case.id)] = 'differ' if problems else 'match'
    assert not problems, f"{case.id} through {runner} ({r.seconds:.1f} s), mirroring nbclient's {case.tests}:\n  - " + '\n  - '.join(problems)
