"""Benchmark results kept in `bench/results/<name>.json`, and the tables the docs show from them.

Each benchmark script writes its results with `--save`; the tutorial pages and the README render their
tables from these files with `markdown(name)`, so every number shown comes from a real run (the file
says when, on how many cores, with which Python)."""
import datetime, json, os, platform, sys
from pathlib import Path

DIR = Path(__file__).resolve().parent/'results'

def save(name, rows, **meta):
    "Write `rows` (a list of dicts) and what the run was on to `results/<name>.json`; return the path"
    DIR.mkdir(exist_ok=True)
    p = DIR/f'{name}.json'
    p.write_text(json.dumps(dict(name=name, date=datetime.date.today().isoformat(), cores=os.cpu_count(),
                                 python=sys.version.split()[0], machine=platform.machine(), **meta, rows=rows), indent=1) + '\n')
    return p

def load(name) -> dict: return json.loads((DIR/f'{name}.json').read_text())

def _x(r): return f"{r:.2f}x" if r is not None else '-'

def _roundtrip(d):
    yield '| client | p50 ms | p90 ms | p50 vs ZMQ |'
    yield '|---|--:|--:|--:|'
    for r in d['rows']: yield f"| {r['client']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {_x(r['vs_zmq'])} |"

def _run(d):
    yield '| | ours | nbclient | ratio |'
    yield '|---|--:|--:|--:|'
    for r in d['rows']:
        if 'notebook' in r['what'] and r['peer_ms']: yield f"| {r['what']} | {r['ours_ms']:.0f} ms | {r['peer_ms']:.0f} ms | {_x(r['ratio'])} |"

def _command(d):
    yield '| case | `jupyter-playground run` | `jupyter execute` | papermill | ours / `jupyter execute` | target |'
    yield '|---|--:|--:|--:|--:|--:|'
    for r in d['rows']:
        if 'jupyter_execute_s' in r:
            t = f"≤ {r['target']}x {'met' if r['ours_s'] / r['jupyter_execute_s'] <= r['target'] else 'missed'}" if r.get('target') else ''
            yield (f"| {r['case']} | {r['ours_s']:.2f} s | {r['jupyter_execute_s']:.2f} s | {r['papermill_s']:.2f} s | "
                   f"{_x(r['ours_s'] / r['jupyter_execute_s'])} | {t} |")
    for r in d['rows']:
        if 'plain_server_s' in r:
            yield ''
            yield (f"The embedded server answers `/api/status` after {r['ours_s']:.2f} s, a plain `jupyter server` after "
                   f"{r['plain_server_s']:.2f} s: {_x(r['ours_s'] / r['plain_server_s'])} (target ≤ 0.5x).")

def markdown(name) -> str:
    "The table of results `name` as Markdown, with a line saying when and where they were measured"
    d = load(name)
    body = '\n'.join({'roundtrip': _roundtrip, 'run': _run, 'command': _command}[name](d))
    rounds = f", medians of {d['rounds']} interleaved rounds" if d.get('rounds') else ''
    return f"{body}\n\nMeasured by `bench/{name}.py --save` on {d['date']}: {d['cores']} cores, Python {d['python']}{rounds}."
