"The docs site: `python tools/docs.py --fallback` builds it, and every page renders in headless Chromium"
import json, os, re, shutil, subprocess, sys, tempfile
from html.parser import HTMLParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
CHROMIUM = next((p for p in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if p), None)
# keep Chromium off the network: no background services, no QUIC, a fresh profile
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-default-apps', '--mute-audio']

def _chromium(*args, timeout=60):
    if not CHROMIUM:
        if os.environ.get('CI'): pytest.fail('chromium is not installed: .ci/run installs it with apt-get')
        pytest.skip('headless Chromium not installed (apt-get install chromium)')
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={profile}', *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout

class _Text(HTMLParser):
    "Visible text, headings and output areas of a page"
    def __init__(self):
        super().__init__(); self.text, self.h1, self.outputs, self.links, self._skip, self._in_h1 = [], [], 0, [], 0, False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ('script', 'style'): self._skip += 1
        if tag == 'h1': self._in_h1 = True; self.h1.append('')
        if 'jp-OutputArea-output' in (a.get('class') or '').split(): self.outputs += 1
        if tag == 'a' and a.get('href'): self.links.append(a['href'])
    def handle_endtag(self, tag):
        if tag in ('script', 'style'): self._skip -= 1
        if tag == 'h1': self._in_h1 = False
    def handle_data(self, d):
        if self._skip: return
        self.text.append(d)
        if self._in_h1: self.h1[-1] += d

def _hidden_lines(nb_path):
    "Distinctive source lines of the notebook's `#| hide` cells, which must not reach the page"
    cells = json.loads(nb_path.read_text())['cells']
    src = lambda c: ''.join(c['source'])
    shown = '\n'.join(src(c) for c in cells if '#| hide' not in src(c))
    return [l.strip() for c in cells if c['cell_type'] == 'code' and src(c).lstrip().startswith('#| hide')
            for l in src(c).splitlines() if len(l.strip()) > 30 and not l.strip().startswith('#') and l.strip() not in shown]

def test_site_has_a_page_per_notebook(site):
    nbs = [p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')]
    assert len(site['pages']) == len(nbs) and (DOCS/'index.html').exists()

def test_readme_matches_index_notebook(site):
    "README.md is what index.ipynb renders to: run `python tools/docs.py` after editing it"
    assert (ROOT/'README.md').read_text() == site['readme'].read_text()

def test_every_page_renders_in_chromium(site):
    names = {p.name for p in site['pages']}
    for page in site['pages']:
        dom = _chromium('--dump-dom', page.as_uri())
        t = _Text(); t.feed(dom)
        text = ''.join(t.text)
        assert t.h1 and t.h1[0].strip(), f'{page.name}: no title heading'
        assert '#|' not in text, f'{page.name}: an nbdev directive shows'
        assert not re.search(r'(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])|token=[0-9a-f]{8}', text), f'{page.name}: something shaped like a token shows'
        local = [l.split('#')[0] for l in t.links if not re.match(r'\w+:|#', l)]
        assert set(local) >= names - {page.name} and all((DOCS/l).exists() for l in local), f'{page.name}: broken navigation'
        nb = next(p for p in (ROOT/'nbs').glob('*.ipynb') if re.sub(r'^\d+_', '', p.stem) + '.html' == page.name)
        stored = sum(len(c.get('outputs', [])) for c in json.loads(nb.read_text())['cells'] if '#| hide' not in ''.join(c['source']))
        if stored: assert t.outputs > 0, f'{page.name}: the notebook has outputs but the page shows none'
        leaked = [l for l in _hidden_lines(nb) if l in text]
        assert not leaked, f'{page.name}: hidden cells show: {leaked[:3]}'

def test_screenshots_for_a_person(site):
    shots = DOCS/'screenshots'
    shots.mkdir(exist_ok=True)
    for name in ('index', 'auth'):
        png = shots/f'{name}.png'
        _chromium('--window-size=1280,1600', f'--screenshot={png}', (DOCS/f'{name}.html').as_uri())
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 20_000
