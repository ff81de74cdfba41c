"""The docs site as a reader sees it: `python tools/docs.py --fallback` builds it (the `site` fixture), and one headless
Chromium, driven over the DevTools protocol, opens every page at 1280 px and at 420 px, follows every fragment link,
types into the search box and saves screenshots into `_docs/screens/`"""
import base64, inspect, json, os, re, shutil, signal, subprocess, tempfile, time, urllib.request
from html.parser import HTMLParser
from pathlib import Path
import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT/'_docs'
SCREENS = DOCS/'screens'
CHROMIUM = next((p for p in map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome')) if p), None)
# keep Chromium off the network: no background services, no QUIC, a fresh profile
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-extensions', '--disable-default-apps', '--mute-audio',
         '--hide-scrollbars', '--remote-debugging-port=0', '--remote-debugging-address=127.0.0.1']
WIDTHS = (1280, 420)

class Browser:
    "One headless Chromium and one tab, driven with DevTools protocol commands (`send`), started once per test session"
    def __init__(self):
        if not CHROMIUM:
            if os.environ.get('CI'): pytest.fail('chromium is not installed: .ci/run installs it with apt-get')
            pytest.skip('headless Chromium not installed (apt-get install chromium)')
        self.profile = tempfile.TemporaryDirectory(prefix='jp-chromium-', ignore_cleanup_errors=True)
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f'--user-data-dir={self.profile.name}', 'about:blank'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file, deadline = Path(self.profile.name)/'DevToolsActivePort', time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().count('\n') >= 1):
            assert self.proc.poll() is None and time.monotonic() < deadline, 'Chromium did not start its DevTools endpoint'
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        tabs = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list', timeout=10))
        legacy = {'legacy': True} if 'legacy' in inspect.signature(connect).parameters else {}  # a plain connection, not a context manager
        self.ws = connect(next(t for t in tabs if t['type'] == 'page')['webSocketDebuggerUrl'], max_size=None, open_timeout=10, **legacy)
        self.n, self.width = 0, None
        self.send('Page.enable')

    def send(self, method, timeout=30, **params):
        "Run one DevTools command and return its result; events that arrive meanwhile are kept in `self.events`"
        self.n += 1; self.events = getattr(self, 'events', [])
        self.ws.send(json.dumps(dict(id=self.n, method=method, params=params)))
        while True:
            m = json.loads(self.ws.recv(timeout=timeout))
            if m.get('id') == self.n:
                assert 'error' not in m, f"{method}: {m['error']}"
                return m['result']
            self.events.append(m)

    def open(self, page: Path, width: int):
        "Show `page` in a `width` px wide window and wait for its load event"
        if width != self.width:
            self.send('Emulation.setDeviceMetricsOverride', width=width, height=900, deviceScaleFactor=1, mobile=False)
            self.width = width
        self.events = []
        self.send('Page.navigate', url=page.as_uri())
        deadline = time.monotonic() + 30
        while not any(e.get('method') == 'Page.loadEventFired' for e in self.events):
            assert time.monotonic() < deadline, f'{page.name} did not load'
            self.events.append(json.loads(self.ws.recv(timeout=30)))

    def js(self, expr: str):
        "The value of the JavaScript expression `expr` in the page"
        r = self.send('Runtime.evaluate', expression=expr, returnByValue=True, awaitPromise=True)
        assert 'exceptionDetails' not in r, r['exceptionDetails']
        return r['result'].get('value')

    def screenshot(self, png: Path) -> Path:
        png.write_bytes(base64.b64decode(self.send('Page.captureScreenshot', format='png')['data']))
        return png

    def close(self):
        "Stop Chromium and its helper processes (its own process group), then remove the profile"
        self.ws.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try: os.killpg(self.proc.pid, sig)
            except ProcessLookupError: break
            try: self.proc.wait(10); break
            except subprocess.TimeoutExpired: pass
        self.profile.cleanup()

# What a page looks like at one width: ids, links, elements past the right edge, the layout's boxes, API reference text
LOOK = r"""(() => {
  const W = document.documentElement.clientWidth, box = s => { const e = document.querySelector(s); if (!e) return null;
    const r = e.getBoundingClientRect(); return {left: r.left, width: r.width, height: r.height}; };
  const clipped = e => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
    if (getComputedStyle(p).overflowX !== 'visible') return true; return false; };
  const wide = [...document.querySelectorAll('body *')].filter(e => { const r = e.getBoundingClientRect();
    const spill = getComputedStyle(e).overflowX === 'visible' ? r.left + e.scrollWidth : r.right;  // content running out of its box
    return r.width > 0 && Math.max(r.right, spill) > W + 1 && !clipped(e); }).map(e => `${e.tagName}.${e.className}: ${e.textContent.slice(0, 80)}`);
  const md = p => p.closest('.jp-MarkdownCell, .jp-RenderedMarkdown');
  // what a paragraph may announce: a code cell's input, or an output that is not an API entry (show_doc's, which opens with a rule)
  const shown = c => c && !c.classList.contains('jp-MarkdownCell') && (c.querySelector('.jp-InputArea') ||
    [...c.querySelectorAll('.jp-OutputArea-output')].some(o => { const f = o.querySelector('*'); return !f || f.tagName !== 'HR'; }));
  const colon = [...document.querySelectorAll('main p')].filter(p => md(p) && p.textContent.trim().endsWith(':')).filter(p => {
    let n = p.nextElementSibling; if (n) return !['PRE', 'UL', 'OL', 'TABLE', 'DIV', 'BLOCKQUOTE', 'DL'].includes(n.tagName);
    return !shown(p.closest('.jp-Cell').nextElementSibling); }).map(p => p.textContent.trim().slice(-90));
  return {W, scrollWidth: document.documentElement.scrollWidth, wide, ids: [...document.querySelectorAll('[id]')].map(e => e.id),
    links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')), sidebar: box('nav.sidebar'), main: box('main'),
    height: document.documentElement.scrollHeight, h2: document.querySelectorAll('main h2').length,
    toc: [...document.querySelectorAll('#TOC a')].map(a => a.getAttribute('href')), colon,
    code: [...document.querySelectorAll('main pre')].map(p => p.textContent).join('\n'),
    boldHeadings: [...document.querySelectorAll('main h2, main h3, main h4')].filter(h => h.querySelector('strong, em')).map(h => h.textContent),
    html: document.documentElement.outerHTML, text: document.body.innerText};
})()"""

@pytest.fixture(scope='session')
def browser():
    b = Browser()
    yield b
    b.close()

@pytest.fixture(scope='session')
def looks(site, browser):
    "Every page seen at both widths: {width: {page name: what LOOK found}}, and three screenshots in `_docs/screens/`"
    SCREENS.mkdir(exist_ok=True)
    res = {}
    for w in WIDTHS:
        res[w] = {}
        for page in site['pages']:
            browser.open(page, w)
            res[w][page.name] = browser.js(LOOK)
            if page.stem in ('index', 'channels', 'trace'): browser.screenshot(SCREENS/f'{page.stem}-{w}.png')
    return res

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

def _notebook(page: str) -> Path:
    return next(p for p in (ROOT/'nbs').glob('*.ipynb') if re.sub(r'^\d+_', '', p.stem) + '.html' == page)

def test_site_has_a_page_per_notebook(site):
    nbs = [p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith('_')]
    assert len(site['pages']) == len(nbs) and (DOCS/'index.html').exists() and (DOCS/'search.js').exists()

def test_readme_matches_index_notebook(site):
    "README.md is what index.ipynb renders to: run `python tools/docs.py` after editing it"
    assert (ROOT/'README.md').read_text() == site['readme'].read_text()

def test_every_page_renders_in_chromium(site, looks):
    names = {p.name for p in site['pages']}
    for page in site['pages']:
        t = _Text(); t.feed(looks[1280][page.name]['html'])
        text = ''.join(t.text)
        assert t.h1 and t.h1[0].strip(), f'{page.name}: no title heading'
        assert '#|' not in text, f'{page.name}: an nbdev directive shows'
        assert not re.search(r'(?<![0-9a-f])[0-9a-f]{48}(?![0-9a-f])|token=[0-9a-f]{8}', text), f'{page.name}: something shaped like a token shows'
        local = [l.split('#')[0] for l in t.links if not re.match(r'\w+:|#', l)]
        assert set(local) >= names - {page.name} and all((DOCS/l).exists() for l in local), f'{page.name}: broken navigation'
        nb = _notebook(page.name)
        stored = sum(len(c.get('outputs', [])) for c in json.loads(nb.read_text())['cells'] if '#| hide' not in ''.join(c['source']))
        if stored: assert t.outputs > 0, f'{page.name}: the notebook has outputs but the page shows none'
        leaked = [l for l in _hidden_lines(nb) if l in text]
        assert not leaked, f'{page.name}: hidden cells show: {leaked[:3]}'

def test_fragment_links_resolve(looks):
    "Every `#id` and `page.html#id` link, the heading anchors and TOC entries included, points at an element with that id"
    seen = looks[1280]
    broken = [f'{name}: {href}' for name, look in seen.items() for href in look['links'] if '#' in href and not re.match(r'\w+:', href)
              for page, frag in [href.split('#', 1)] if frag not in seen.get(page or name, {}).get('ids', [])]
    assert not broken, f'{len(broken)} fragment links lead nowhere: {broken[:10]}'

@pytest.mark.parametrize('width', WIDTHS)
def test_nothing_wider_than_the_window(looks, width):
    "Code, outputs and tables wrap or scroll inside the column: the page never scrolls sideways"
    wide = {name: (look['scrollWidth'], look['wide'][:3]) for name, look in looks[width].items()
            if look['scrollWidth'] > look['W'] + 1 or look['wide']}
    assert not wide, f'at {width} px, elements run past the right edge: {wide}'

def test_narrow_layout_gives_the_content_the_width(looks):
    "At 420 px the sidebar sits above the content (page list folded), and the content has the full width"
    for name, look in looks[420].items():
        assert look['main']['width'] >= 0.9 * look['W'], f"{name}: the content is {look['main']['width']} px of {look['W']}"
        assert look['sidebar']['height'] < 450, f"{name}: the sidebar is {look['sidebar']['height']} px tall above the content"
    wide = looks[1280]['index.html']
    assert wide['sidebar']['width'] < 0.25 * wide['W'] and wide['main']['left'] >= wide['sidebar']['width']

def test_long_pages_have_a_table_of_contents(looks):
    "A page with three or more sections lists them all in its TOC, which links to them"
    long = {n: l for n, l in looks[1280].items() if l['h2'] >= 3}
    assert len(long) >= 10, sorted(long)
    for name, look in long.items():
        assert len(look['toc']) >= look['h2'] and all(h[1:] in look['ids'] for h in look['toc']), f'{name}: TOC {look["toc"][:5]}'
    assert looks[1280]['channels.html']['toc'], 'the longest page has no TOC'

def test_search_finds_a_term_from_the_contents_page(site, browser):
    "Typing a heading of the contents page into the search box on the home page lists a link to that section"
    browser.open(DOCS/'contents.html', 1280)
    heading, hid = browser.js("[...document.querySelectorAll('main h2')].map(h => [h.textContent.replace('¶', '').trim(), h.id])[2]")
    browser.open(DOCS/'index.html', 1280)
    browser.js("document.getElementById('search').focus()")
    browser.send('Input.insertText', text=heading)
    hits = browser.js("[...document.querySelectorAll('#search-results a')].map(a => a.getAttribute('href'))")
    assert f'contents.html#{hid}' in hits, (heading, hits)
    browser.js("document.getElementById('search').value = 'no-such-word-anywhere'; document.getElementById('search').dispatchEvent(new Event('input'))")
    assert browser.js("document.querySelectorAll('#search-results a').length") == 0

def test_screenshots_saved(looks):
    "Screenshots of three pages at both widths, in `_docs/screens/`, for a person to look at"
    shots = sorted(SCREENS.glob('*.png'))
    assert {p.name for p in shots} >= {f'{n}-{w}.png' for n in ('index', 'channels', 'trace') for w in WIDTHS}
    for png in shots: assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and png.stat().st_size > 10_000, png

def test_api_reference_is_clean(looks):
    "Classes show as `class X(`, types without `__main__.`, `None` defaults without `NoneType`, dunder names as names"
    for name, look in looks[1280].items():
        classes = re.findall(r'\bdef [A-Z]\w*\(', look['code'])
        assert not classes, f'{name}: classes shown as functions: {classes[:3]}'
        assert '__main__.' not in look['text'], f'{name}: `__main__.` shows'
        assert 'NoneType' not in look['text'], f'{name}: `NoneType` shows'
        assert not look['boldHeadings'], f"{name}: headings with markdown emphasis: {look['boldHeadings'][:3]}"

def test_angle_brackets_in_markdown_outputs_show(site, looks):
    "Text such as `DELETE /api/sessions/<id>` in a displayed table shows its `<id>` (escaped, not taken for an HTML tag)"
    for page in site['pages']:
        cells = json.loads(_notebook(page.name).read_text())['cells']
        mds = [''.join(o['data']['text/markdown']) for c in cells for o in c.get('outputs', []) if 'text/markdown' in o.get('data', {})]
        for tag in {t for md in mds for t in re.findall(r'&lt;\w+&gt;|<id>', md)}:
            assert tag.replace('&lt;', '<').replace('&gt;', '>') in looks[1280][page.name]['text'], f'{page.name}: {tag} does not show'

def test_a_paragraph_ending_in_a_colon_is_followed_by_what_it_announces(looks):
    "A paragraph that ends with ':' is followed by a visible code cell, output, list or code block, not by nothing"
    bad = {name: look['colon'] for name, look in looks[1280].items() if look['colon']}
    assert not bad, f'{sum(map(len, bad.values()))} paragraphs announce something that does not show: {bad}'
