"""Builds the documentation site into _docs/ offline: nbdev's own processing, then a static HTML renderer.

Where quarto exists, `nbdev_docs` still works as usual. Here quarto cannot be installed, so this script does what
quarto would: it takes the executed notebooks (the copies `make test` keeps in _build/executed/, or a lesson's
`runs/NAME/NAME.ipynb` from `make run`, when up to date; else it runs that notebook once: a lesson through the runner
of `l3 lesson`, a library notebook as nbdev_test does), lets nbdev process them exactly as for quarto (`show_doc` API
entries, `#| hide`/`#| export` directives, signatures, links between symbols), and renders each processed notebook to
a page with a sidebar. A widget's output keeps its static `text/html` part (a tool's snapshot; a lesson's
questionnaire as the list of questions with the answers folded in `<details>`), since a static page has no widget
manager.

Usage: python tools/build_docs.py [--out _docs] [--no-exec]   (--no-exec: use outputs as saved, run nothing)
"""
import argparse
import html
import json
import os
import posixpath
import re
import shutil
import sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbexec import run_nb_isolated, run_lesson_nb, keep_for_docs, is_lesson, notebooks, tst_flags, NBS, EXECUTED  # noqa: E402

BUILD = ROOT/'_build'/'site'

def _cfg():
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']

def _fresh(f: Path, nb: Path) -> bool: return f.exists() and f.stat().st_mtime >= nb.stat().st_mtime

def _from_make_run(nb: Path, dest: Path) -> bool:
    "Reuse `make run`'s executed lesson (runs/NAME/NAME.ipynb) when newer than the source, run with defaults, passed."
    from l3.core import runs_path
    run = runs_path(nb.stem)
    try: rec = json.loads((run/'run.json').read_text())
    except (OSError, ValueError): return False
    if 'error' in rec or set(rec.get('params', {})) != {'RUN_DIR'} or not _fresh(run/f'{nb.stem}.ipynb', nb):
        return False
    keep_for_docs(run/f'{nb.stem}.ipynb', nb)
    return True

def executed_notebooks(run_missing=True) -> list[Path]:
    "Executed copies of every notebook, running (once) those whose copy is missing or older than the source."
    out = []
    for nb in notebooks():
        dest = EXECUTED/nb.relative_to(NBS)
        if run_missing and not _fresh(dest, nb) and not (is_lesson(nb) and _from_make_run(nb, dest)):
            print(f'executing {nb.relative_to(ROOT)}', flush=True)
            if is_lesson(nb):
                rec = run_lesson_nb(nb)
                ok, err = 'error' not in rec, rec.get('error')
            else: ok, _, err = run_nb_isolated(nb, skip_flags=tst_flags())
            if not ok: raise SystemExit(f'{nb.relative_to(ROOT)} failed while building the docs:\n{err}')
        out.append(dest if dest.exists() else nb)
    return out

_EXPORTED = re.compile(r'^#\|\s*(export|exports|exec_doc|default_exp)\b', re.M)

def _split_title(nb: dict) -> dict:
    "nbdev turns the first markdown cell into the title and a one-line description and drops the rest: keep the rest."
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] != 'markdown': continue
        lines = ''.join(c['source']).splitlines()
        if not lines or not lines[0].startswith('# '): break
        j = 1
        while j < len(lines) and not lines[j].strip(): j += 1
        quote = []
        while j < len(lines) and lines[j].startswith('>'):
            quote.append(lines[j].lstrip('> ').strip())
            j += 1
        head = [lines[0], ''] + (['> ' + ' '.join(quote)] if quote else [])
        rest = '\n'.join(lines[j:]).strip()
        c['source'] = '\n'.join(head)
        if rest: nb['cells'].insert(i + 1, {'cell_type': 'markdown', 'metadata': {}, 'source': rest})
        break
    return nb

def _no_rerun(nb: dict) -> dict:
    "nbdev's processing runs every cell holding an import; our outputs are already there, so only exports run."
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'code' and not _EXPORTED.search(src) and 'show_doc' not in src:
            c['source'] = '#| eval: false\n' + src
    return nb

def process(nbs: list[Path]) -> Path:
    "Copy the project with executed notebooks into _build/site and run nbdev's `_proc` step there."
    if BUILD.exists(): shutil.rmtree(BUILD)
    (BUILD/'nbs').mkdir(parents=True)
    shutil.copy(ROOT/'settings.ini', BUILD/'settings.ini')
    shutil.copytree(ROOT/'l3', BUILD/'l3', ignore=shutil.ignore_patterns('__pycache__'))
    for src, nb in zip(nbs, notebooks()):
        dest = BUILD/'nbs'/nb.relative_to(NBS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nb_json = json.loads(Path(src).read_text(encoding='utf-8'))
        dest.write_text(json.dumps(_split_title(_no_rerun(nb_json))), encoding='utf-8')
    from nbdev.serve import proc_nbs
    cwd = Path.cwd()
    os.chdir(BUILD)
    try: proc_nbs(path=str(BUILD/'nbs'), n_workers=0, force=True)
    finally: os.chdir(cwd)
    return BUILD/'_proc'

_FM = re.compile(r'^---\s*\n(.*?)\n---', re.S)

def _frontmatter(nb) -> dict:
    "Title, description and output file from the raw frontmatter cell nbdev writes first."
    for c in nb['cells']:
        if c['cell_type'] == 'raw':
            m = _FM.search(''.join(c['source']))
            if m:
                import yaml
                return yaml.safe_load(m.group(1)) or {}
    return {}

def _prepare(nb) -> dict:
    "Apply quarto's cell options that nbdev leaves for it: echo: false hides the code, output: false the outputs."
    cells = []
    for c in nb['cells']:
        if c['cell_type'] == 'raw': continue
        src = ''.join(c['source'])
        if c['cell_type'] == 'markdown' and 'AUTOGENERATED! DO NOT EDIT' in src: continue
        if c['cell_type'] == 'code':
            opts = dict(re.findall(r'^#\|\s*([\w-]+):\s*(\S+)', src, re.M))
            c['source'] = re.sub(r'^#\|.*\n?', '', src, flags=re.M)
            c.setdefault('metadata', {})['tags'] = []
            if opts.get('echo') == 'false' or not c['source'].strip(): c['metadata']['tags'].append('remove_input')
            if opts.get('output') == 'false': c['outputs'] = []
            for o in c.get('outputs', []):  # a static page has no widget manager: keep the widget's static HTML only
                if 'text/html' in o.get('data', {}): o['data'].pop('application/vnd.jupyter.widget-view+json', None)
            if not c['source'].strip() and not c.get('outputs'): continue
        cells.append(c)
    nb['cells'] = cells
    nb.get('metadata', {}).pop('widgets', None)  # the saved widget state: only a live widget manager could use it
    return nb

def _fix_links(body: str, dest: str, doc_url: str, pages: dict[str, str]) -> str:
    """Make links work offline: absolute doc links become relative, .ipynb links point at their pages (`pages` maps a
    notebook's path under nbs/ to its page, whose name may drop the number: 02b_databunch.ipynb -> databunch.html),
    quarto attributes go."""
    here = posixpath.dirname(dest)
    body = body.replace(doc_url, '../' * dest.count('/'))
    def page(m):
        nb = posixpath.normpath(posixpath.join(here, m.group(1) + '.ipynb'))
        target = posixpath.relpath(pages[nb], here or '.') if nb in pages else m.group(1) + '.html'
        return f'href="{target}{m.group(2) or ""}"'
    body = re.sub(r'href="([^"#:]+)\.ipynb(#[^"]*)?"', page, body)
    return re.sub(r'\{target=(?:&quot;|")_blank(?:&quot;|")[^}]*\}', '', body)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – l3</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{up}style.css"></head>
<body><nav class="sidebar"><a class="brand" href="{up}index.html">l3</a>{sidebar}</nav>
<main><h1 class="title">{title}</h1><p class="description">{description}</p>{body}</main></body></html>
"""

CSS = """body{margin:0;font:16px/1.55 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;display:flex}
.sidebar{position:sticky;top:0;height:100vh;overflow:auto;min-width:230px;max-width:230px;padding:18px;
background:#f4f6fa;border-right:1px solid #dde2ea;box-sizing:border-box}
.sidebar a{display:block;color:#2b4a8b;text-decoration:none;padding:3px 0}.sidebar a.current{font-weight:700}
.sidebar .brand{font-size:1.5em;font-weight:800;margin-bottom:8px}
.sidebar h4{margin:16px 0 4px;color:#667;font-size:.8em;text-transform:uppercase}
main{padding:24px 40px;max-width:980px;min-width:0;flex:1}h1.title{margin-top:0}.description{color:#556;font-size:1.1em}
pre{background:#f6f8fa;padding:10px;border-radius:6px;overflow:auto;font-size:14px}code{font-size:.92em}
.jp-InputArea-prompt,.jp-OutputArea-prompt,.prompt{display:none}
.jp-OutputArea-output pre{background:#fff;border-left:3px solid #dde2ea}
img{max-width:100%;height:auto}table{border-collapse:collapse}td,th{border:1px solid #dde2ea;padding:3px 8px}
h3{border-top:1px solid #eee;padding-top:10px}
.anchor-link{visibility:hidden;text-decoration:none;margin-left:4px}
h2:hover .anchor-link,h3:hover .anchor-link{visibility:visible}
.l3-questionnaire li{margin-bottom:.5em}.l3-questionnaire details{margin:.2em 0 .6em}
.l3-questionnaire summary{cursor:pointer;color:#2b4a8b}
"""

# the course's order: lessons as taught (l3 lesson's list), then the library by number
from l3.cli import LESSONS as LESSON_ORDER  # noqa: E402

def _section(dest: str) -> str:
    return dest.split('/')[0] if '/' in dest else ''

def _page_order(pg):
    dest = pg[0]
    sec, stem = _section(dest), Path(dest).stem
    rank = LESSON_ORDER.index(stem) if sec == 'lessons' and stem in LESSON_ORDER else len(LESSON_ORDER)
    return (dest != 'index.html', {'lessons': 0, '': 1}.get(sec, 2), rank)  # stable: else notebook order

def render(proc: Path, out: Path) -> list[str]:
    "Render every processed notebook into `out`, with a shared sidebar. Returns the pages written."
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor
    import nbformat
    cfg = _cfg()
    doc_url = cfg.get('doc_host', '').rstrip('/') + cfg.get('doc_baseurl', '').rstrip('/') + '/'
    pages, names = [], {}
    for p in sorted(proc.rglob('*.ipynb')):
        nb = json.loads(p.read_text(encoding='utf-8'))
        fm = _frontmatter(nb)
        rel = p.relative_to(proc)
        dest = fm.get('output-file') or ('index.html' if rel.stem == 'index' else rel.stem + '.html')
        dest = str(rel.parent/dest) if str(rel.parent) != '.' else dest
        pages.append((dest, fm.get('title', rel.stem), fm.get('description', ''), nb))
        names[rel.as_posix()] = dest
    pages.sort(key=_page_order)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out/'style.css').write_text(CSS, encoding='utf-8')
    tr = TagRemovePreprocessor(remove_input_tags={'remove_input'}, enabled=True)
    exporter = HTMLExporter(template_name='basic')
    exporter.register_preprocessor(tr, enabled=True)
    for dest, title, desc, nb in pages:
        depth = dest.count('/')
        up = '../' * depth
        def link(d, t): return f'<a href="{up}{d}"{" class=current" if d == dest else ""}>{html.escape(t)}</a>'
        sidebar = link('index.html', 'Home')
        for head, sec in (('Lessons', 'lessons'), ('Library', '')):
            links = [link(d, t) for d, t, _, _ in pages if d != 'index.html' and _section(d) == sec]
            if links: sidebar += f'<h4>{head}</h4>' + ''.join(links)
        body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(_prepare(nb)), as_version=4))
        body = _fix_links(body, dest, doc_url, names)
        page = PAGE.format(title=html.escape(title), description=html.escape(desc), up=up, sidebar=sidebar, body=body)
        (out/dest).parent.mkdir(parents=True, exist_ok=True)
        (out/dest).write_text(page, encoding='utf-8')
    from pygments.formatters import HtmlFormatter
    with open(out/'style.css', 'a', encoding='utf-8') as f:
        f.write(HtmlFormatter().get_style_defs('.highlight'))
    return [d for d, *_ in pages]

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, default=ROOT/'_docs')
    ap.add_argument('--no-exec', action='store_true', help='use the notebooks as saved, execute nothing')
    args = ap.parse_args(argv)
    nbs = notebooks() if args.no_exec else executed_notebooks()
    pages = render(process(nbs), args.out)
    print(f'{len(pages)} pages written to {args.out}: ' + ', '.join(pages))
    return pages

if __name__ == '__main__': main()
