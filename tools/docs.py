#!/usr/bin/env python
"""Build the documentation site into `_docs/` and refresh README.md from `nbs/index.ipynb`.

    python tools/docs.py            # Quarto on PATH: `nbdev-docs`; otherwise the fallback below
    python tools/docs.py --fallback # always the fallback (what the browser test checks)

The fallback needs no Quarto: it runs nbdev's own processing of each notebook (what `nbdev-docs` does before
Quarto, in a fresh temporary folder every time), so `#| hide`, `#| export` and the other directives are honoured
and exported code shows as documented API, with `show_doc` entries as a reader writes them (`ApiRenderer` from
`jupyter_playground.docs_renderer`, which pyproject.toml's `[tool.nbdev]` also names for Quarto's build:
`class X(`, `Trace` not `__main__.Trace`, `None` defaults without `NoneType`, `__repr__` not bold "repr"). It
renders each processed notebook with nbconvert's HTML exporter, gives headings pandoc's ids (so links written
for Quarto resolve here too), and adds the layout: a sidebar with a search box (the index is `search.js`, a
script so that pages opened from file:// can load it), a table of contents per page, previous/next links,
code and tables that wrap or scroll, and a narrow layout below 800 px. It writes README.md from the processed
`index.ipynb`.
"""
import argparse, html, json, re, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*)$')


def _proc_one(src: Path, dst: Path):
    "nbdev's processing of one notebook for the docs (what `nbdev-docs` does first), with `ApiRenderer`'s show_doc"
    import os, nbdev.showdoc
    from jupyter_playground.docs_renderer import ApiRenderer
    from nbdev.processors import FilterDefaults
    from nbdev.serve_drv import exec_nb
    nbdev.showdoc.BasicMarkdownRenderer = ApiRenderer  # also where pyproject's `renderer` is not read
    os.environ['IN_TEST'] = '1'
    dst.parent.mkdir(parents=True, exist_ok=True)
    exec_nb(src, dst, FilterDefaults)


def _proc_nbs(nbs: Path, proc: Path, workers: int = 2):
    "Process every notebook in `nbs` into `proc`, `workers` at a time, each in a fresh process"
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    if proc.exists(): shutil.rmtree(proc)
    proc.mkdir(parents=True)
    srcs = sorted(p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    with ProcessPoolExecutor(workers, mp_context=mp.get_context('spawn'), max_tasks_per_child=1) as ex:
        for f in [ex.submit(_proc_one, s, proc/s.name) for s in srcs]: f.result()
    return proc


def _config():
    from nbdev.config import get_config
    return get_config(ROOT)


def _frontmatter(nb) -> dict:
    "The YAML frontmatter nbdev puts in a processed notebook's first raw cell"
    import yaml
    c = nb['cells'][0] if nb['cells'] else None
    if not c or c['cell_type'] != 'raw': return {}
    src = ''.join(c['source']).strip()
    return yaml.safe_load(src.strip('-')) or {} if src.startswith('---') else {}


def _pages(proc: Path) -> list:
    "The processed notebooks in site order (index first, then by file name), with their frontmatter"
    nbs = sorted(p for p in proc.glob('*.ipynb') if not p.name.startswith(('_', '.')))
    nbs.sort(key=lambda p: (p.name != 'index.ipynb', p.name))
    res = []
    for p in nbs:
        nb = json.loads(p.read_text())
        fm = _frontmatter(nb)
        out = fm.get('output-file') or ('index.html' if p.name == 'index.ipynb' else re.sub(r'^\d+_', '', p.stem) + '.html')
        res.append(dict(src=p, nb=nb, out=out, title=fm.get('title') or p.stem, description=fm.get('description', '')))
    return res


def _links(text: str, target: dict) -> str:
    "Point markdown links to notebooks at their pages"
    return re.sub(r'\]\(([\w.-]+\.ipynb)(#[^)]*)?\)', lambda m: f"]({target.get(m[1], m[1])}{m[2] or ''})", text)


def _clean(nb: dict, target: dict) -> dict:
    "Drop the frontmatter cell and directive lines; hide the input of `#| echo: false` cells; fix links"
    cells = []
    for c in nb['cells'][1:] if _frontmatter(nb) else nb['cells']:
        c = {k: v for k,v in c.items() if k in ('cell_type', 'source', 'outputs', 'execution_count', 'id', 'attachments')}
        c['metadata'] = {}
        lines = ''.join(c['source']).splitlines(keepends=True)
        if c['cell_type'] == 'code':
            dirs = {}
            while lines and DIRECTIVE.match(lines[0]):
                m = DIRECTIVE.match(lines.pop(0)); dirs[m[1]] = m[2].strip()
            if dirs.get('echo') == 'false': c['metadata']['tags'] = ['remove_input']
            if dirs.get('include') == 'false': continue
        if c['cell_type'] == 'markdown': lines = [_links(l, target) for l in lines]
        for o in c.get('outputs', []):  # markdown a cell displays (a table of links, say) links to pages too
            md = o.get('data', {}).get('text/markdown')
            if md is not None: o['data']['text/markdown'] = _links(''.join(md), target)
        if c['cell_type'] == 'raw': continue
        if 'WARNING: THIS FILE WAS AUTOGENERATED' in ''.join(lines): continue
        c['source'] = ''.join(lines)
        cells.append(c)
    return dict(nb, cells=cells)


NAV_CSS = """
<style>
 body { margin: 0; }
 .jp-site { display: grid; grid-template-columns: 15rem minmax(0, 1fr) 14rem; align-items: start; }
 .jp-site > nav.sidebar { position: sticky; top: 0; height: 100vh; overflow-y: auto; padding: 1.5rem 1rem;
   border-right: 1px solid #ddd; font: 15px/1.5 system-ui, sans-serif; box-sizing: border-box; }
 .jp-site > nav.sidebar a { display: block; padding: .2rem .4rem; color: #333; text-decoration: none; border-radius: 4px; }
 .jp-site > nav.sidebar a.active { background: #e8eefc; font-weight: 600; }
 .jp-site > nav.sidebar .site-title { font-weight: 700; margin-bottom: .6rem; }
 .jp-site > nav.sidebar summary { cursor: pointer; font-weight: 600; margin: .6rem 0 .2rem; }
 #search { width: 100%; box-sizing: border-box; padding: .3rem .5rem; font: inherit; border: 1px solid #bbb; border-radius: 4px; }
 #search-results { list-style: none; padding: 0; margin: .3rem 0; }
 #search-results a { font-size: 14px; }
 #search-results small { display: block; color: #666; padding: 0 .4rem .3rem; overflow-wrap: anywhere; }
 .jp-site > main { min-width: 0; padding: 1rem 2rem; box-sizing: border-box; }
 .jp-site > nav.toc { position: sticky; top: 0; max-height: 100vh; overflow-y: auto; padding: 1.5rem 1rem; box-sizing: border-box;
   font: 14px/1.4 system-ui, sans-serif; border-left: 1px solid #eee; }
 nav.toc ul { list-style: none; padding-left: 0; margin: 0; } nav.toc ul ul { padding-left: .8rem; }
 nav.toc a { display: block; padding: .15rem 0; color: #444; text-decoration: none; overflow-wrap: anywhere; }
 nav.toc summary { font-weight: 600; cursor: pointer; margin-bottom: .3rem; }
 nav.pager { display: flex; justify-content: space-between; gap: 1rem; margin: 2rem 0; font: 15px system-ui, sans-serif; }
 p.description { font-style: italic; font-size: 130%; opacity: .7; }
 /* code and outputs wrap or scroll inside the column; wide tables scroll */
 main pre { white-space: pre-wrap; overflow-wrap: anywhere; }
 main .jp-RenderedMarkdown pre { background: #f5f5f5; padding: .5rem .7rem; margin: .6rem 0; border-radius: 4px; }
 main .jp-InputArea pre, main .highlight pre { white-space: pre; overflow-x: auto; }
 main .jp-Cell, main .jp-InputArea, main .jp-OutputArea, main .jp-InputArea-editor, main .jp-OutputArea-output { min-width: 0; max-width: 100%; }
 main .jp-RenderedHTMLCommon table, main table { display: block; max-width: 100%; overflow-x: auto; }
 main img { max-width: 100%; height: auto; }
 main :not(pre) > code { overflow-wrap: anywhere; }
 h1, h2, h3, h4 { overflow-wrap: anywhere; }
 @media (max-width: 1100px) {
  .jp-site { grid-template-columns: 15rem minmax(0, 1fr); }
  .jp-site > nav.toc { grid-column: 2; grid-row: 1; position: static; max-height: none; border-left: 0; padding: 1rem 2rem 0; }
  .jp-site > main { grid-column: 2; grid-row: 2; }
  .jp-site > nav.sidebar { grid-row: 1 / span 2; }
 }
 @media (max-width: 800px) {
  .jp-site { display: block; }
  .jp-site > nav.sidebar { position: static; height: auto; border-right: 0; border-bottom: 1px solid #ddd; padding: .8rem 1rem; }
  .jp-site > nav.toc { padding: .8rem 1rem 0; }
  .jp-site > main { padding: .5rem 1rem; }
 }
</style>
"""

# Close the page list and the TOC on narrow screens (they sit above the content there); the search box
SITE_JS = """
<script src="search.js"></script>
<script>
(function () {
  if (window.matchMedia('(max-width: 800px)').matches)
    document.querySelectorAll('details.collapse-narrow').forEach(function (d) { d.open = false; });
  var box = document.getElementById('search'), out = document.getElementById('search-results');
  function esc(s) { return s.replace(/[&<>"]/g, function (c) { return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]; }); }
  function search(q) {
    var terms = q.toLowerCase().split(/\\s+/).filter(Boolean), hits = [];
    if (!terms.length) return [];
    (window.SEARCH_INDEX || []).forEach(function (e) {
      var title = (e.page + ' ' + e.section).toLowerCase(), text = e.text.toLowerCase(), score = 0;
      for (var i = 0; i < terms.length; i++) {
        var inTitle = title.indexOf(terms[i]) >= 0, at = text.indexOf(terms[i]);
        if (!inTitle && at < 0) return;
        score += (inTitle ? 10 : 0) + (at >= 0 ? 1 : 0);
      }
      hits.push([score, e]);
    });
    return hits.sort(function (a, b) { return b[0] - a[0]; }).slice(0, 12).map(function (h) { return h[1]; });
  }
  function show() {
    var q = box.value.trim(), t = q.toLowerCase().split(/\\s+/)[0];
    out.innerHTML = search(q).map(function (e) {
      var at = Math.max(0, e.text.toLowerCase().indexOf(t) - 40), snip = e.text.slice(at, at + 120);
      return '<li><a href="' + e.href + '">' + esc(e.page) + (e.section ? ' › ' + esc(e.section) : '') + '</a><small>' + esc(snip) + '</small></li>';
    }).join('') || (q ? '<li><small>no match</small></li>' : '');
  }
  if (box) box.addEventListener('input', show);
})();
</script>
"""

_HEADING = re.compile(r'<h([1-6])([^>]*?)\s+id="([^"]*)"([^>]*)>(.*?)(?:<a class="anchor-link" href="#[^"]*">¶</a>)?</h\1>', re.S)


def _text(fragment: str, sep=' ') -> str:
    "The visible text of an HTML fragment, whitespace collapsed; tags become `sep`"
    fragment = re.sub(r'<(script|style)\b.*?</\1>', ' ', fragment, flags=re.S)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', sep, fragment)).split())


def _slug(text: str) -> str:
    "The id pandoc (so Quarto) gives a heading: lower case, punctuation but `_-.` dropped, spaces as `-`, from the first letter"
    s = re.sub(r'[^\w\s.-]', '', text.lower()).strip()
    s = re.sub(r'\s+', '-', s)
    return re.sub(r'^[^a-z\u00c0-\uffff]+', '', s) or 'section'


def _sections(body: str):
    "Give the headings pandoc's ids (so links written for Quarto resolve here too); return the new body and its headings"
    seen, heads = {}, []
    def fix(m):
        level, pre, _, post, inner = m.groups()
        text = _text(inner, '')
        base = _slug(text); n = seen.get(base, 0); seen[base] = n + 1
        hid = base if not n else f'{base}-{n}'
        heads.append(dict(level=int(level), id=hid, text=text, at=m.start()))
        return f'<h{level}{pre} id="{hid}"{post}>{inner}<a class="anchor-link" href="#{hid}">¶</a></h{level}>'
    return _HEADING.sub(fix, body), heads


def _toc(heads: list) -> str:
    "The page's table of contents: its level 2 and 3 headings, nested"
    items, open3 = [], False
    for h in heads:
        if h['level'] not in (2, 3): continue
        link = f'<a href="#{h["id"]}">{html.escape(h["text"])}</a>'
        if h['level'] == 3 and items:
            items.append(('' if open3 else '<ul>') + f'<li>{link}</li>'); open3 = True
        else:
            items.append(('</ul></li>' if open3 else '</li>' if items else '') + f'<li>{link}'); open3 = False
    if not items: return ''
    items.append('</ul></li>' if open3 else '</li>')
    return f'<nav class="toc" id="TOC"><details class="collapse-narrow" open><summary>On this page</summary><ul>{"".join(items)}</ul></details></nav>'


def _index_entries(body: str, page: dict) -> list:
    "Search entries for a page: one per section (the text from one heading to the next), linked to the heading"
    body = re.sub(r'<(script|style)\b.*?</\1>', ' ', body, flags=re.S)
    heads = list(_HEADING.finditer(body))
    spans = [(0, heads[0].start() if heads else len(body), '', '')] + [
        (m.end(), heads[i+1].start() if i + 1 < len(heads) else len(body), m[3], _text(m[5], '')) for i,m in enumerate(heads)]
    return [dict(page=page['title'], section=title, href=page['out'] + (f'#{hid}' if hid else ''), text=_text(body[a:b])[:4000])
            for a,b,hid,title in spans if title or _text(body[a:b])]


def _wrap(body_html: str, page: dict, pages: list, site_title: str):
    "Put a rendered page inside the site layout (sidebar with search, table of contents, previous/next links); also its search entries"
    i = pages.index(page)
    active = ' class="active"'
    side = ''.join(f'<a href="{p["out"]}"{active if p is page else ""}>{html.escape(p["title"])}</a>' for p in pages)
    prev = f'<a class="prev" href="{pages[i-1]["out"]}">&larr; {html.escape(pages[i-1]["title"])}</a>' if i else '<span></span>'
    nxt = f'<a class="next" href="{pages[i+1]["out"]}">{html.escape(pages[i+1]["title"])} &rarr;</a>' if i + 1 < len(pages) else '<span></span>'
    desc = re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(page['description']))
    desc = f'<p class="description">{desc}</p>' if desc else ''
    head, sep, rest = body_html.partition('<body')
    attrs, _, inner = rest.partition('>')
    inner, heads = _sections(inner.replace('</body>', ''))
    title = f'<h1 class="title" id="title">{html.escape(page["title"])}</h1>{desc}'
    head = head.replace('</head>', NAV_CSS + '</head>')
    head = re.sub(r'<title>.*?</title>', f'<title>{html.escape(page["title"])} – {html.escape(site_title)}</title>', head, flags=re.S)
    search = ('<input type="search" id="search" placeholder="Search the site" aria-label="Search the site" autocomplete="off">'
              '<ol id="search-results"></ol>')
    nav = (f'<nav class="sidebar"><a class="site-title" href="index.html">{html.escape(site_title)}</a>{search}'
           f'<details class="collapse-narrow" open><summary>Pages</summary>{side}</details></nav>')
    out = (f'{head}<body{attrs}><div class="jp-site">{nav}<main>{title}{inner}<nav class="pager">{prev}{nxt}</nav></main>'
           f'{_toc(heads)}</div>{SITE_JS}</body>')
    return out, _index_entries(inner, page)


def _readme(page: dict, pages: list, doc_url: str) -> str:
    "README.md from the processed index notebook, with links to the published pages"
    import nbformat
    from nbconvert import MarkdownExporter
    target = {p['src'].name: doc_url.rstrip('/') + '/' + p['out'] for p in pages}
    nb = nbformat.reads(json.dumps(_clean(page['nb'], target)), as_version=4)
    for c in nb.cells:
        if 'remove_input' in c.metadata.get('tags', []): c.source = ''
    md, _ = MarkdownExporter().from_notebook_node(nb)
    md = _fix_fences(md)
    md = re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'
    head = f"# {page['title']}\n\n" + (f"> {page['description']}\n\n" if page['description'] else '')
    return head + md.split('\n', 1)[1].lstrip() if md.startswith('# ') else head + md


def _fix_fences(md: str) -> str:
    "Give bare opening code fences (code cells) the language `python`"
    out, inside = [], False
    for line in md.splitlines():
        if line.startswith('```'):
            if not inside and line.strip() == '```': line = '```python'
            inside = not inside
        out.append(line)
    return '\n'.join(out)


def fallback(out: Path = None, readme: Path = None, nbs: Path = None) -> Path:
    "Render the notebooks in `nbs` (default: the configured nbs_path) without Quarto into `out` (default: doc_path) and `readme`"
    import nbformat
    from nbconvert import HTMLExporter
    cfg = _config()
    out = Path(out or cfg.doc_path)
    tmp = tempfile.TemporaryDirectory(prefix='jp-docs-')
    pages = _pages(_proc_nbs(Path(nbs or cfg.nbs_path), Path(tmp.name)/'_proc'))
    target = {p['src'].name: p['out'] for p in pages}
    from traitlets.config import Config
    c = Config()
    c.TagRemovePreprocessor.update(enabled=True, remove_input_tags={'remove_input'})
    exp = HTMLExporter(config=c, template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    index_entries = []
    for p in pages:
        body, _ = exp.from_notebook_node(nbformat.reads(json.dumps(_clean(p['nb'], target)), as_version=4))
        page_html, entries = _wrap(body, p, pages, cfg.title or cfg.lib_name)
        (out/p['out']).write_text(page_html)
        index_entries += entries
    # a script, not JSON: pages opened from file:// may load scripts but not fetch files
    (out/'search.js').write_text('window.SEARCH_INDEX = ' + json.dumps(index_entries, ensure_ascii=False) + ';\n')
    index = next((p for p in pages if p['src'].name == cfg.readme_nb), None)
    readme = Path(readme or cfg.config_path/'README.md')
    if index: readme.write_text(_readme(index, pages, cfg.doc_url or ''))
    print(f"built {len(pages)} pages into {out} without Quarto; {readme.name} refreshed from {cfg.readme_nb}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--fallback', action='store_true', help='render without Quarto even when it is installed')
    ap.add_argument('--out', help='output folder (default: _docs)')
    ap.add_argument('--readme', help='where to write the README (default: README.md)')
    args = ap.parse_args(argv)
    if shutil.which('quarto') and not args.fallback:
        subprocess.run(['nbdev-docs'], cwd=ROOT, check=True)
        subprocess.run(['nbdev-readme'], cwd=ROOT, check=True)
        return
    fallback(args.out, args.readme)


if __name__ == '__main__': main()
