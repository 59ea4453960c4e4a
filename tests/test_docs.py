"""The docs site, built offline and checked in a real (headless) Chromium.

Every page loads without console errors, every sidebar link resolves, the main API entries are present, a plot
renders with a non-zero size, a questionnaire shows as its questions with the answers folded (closed `<details>` that
open on a click), and a screenshot of the index is kept in _build/artifacts/docs_index.png.
Runs last (see conftest.py) so it reuses the notebooks executed by test_notebooks.py.
"""
import functools
import http.server
import importlib
import json
import re
import sys
import threading
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
sys.path.insert(0, str(Path(__file__).parent))
from _browser import launch  # noqa: E402
ARTIFACTS = ROOT/'_build'/'artifacts'
# API entries a learner looks up first: (module, attribute path, anchor text on the page)
API = [('l3.learner', 'Learner.fit_one_cycle'), ('l3.learner', 'Learner.lr_find'), ('l3.augment', 'get_transforms'),
       ('l3.vision', 'unet_learner'), ('l3.metrics', 'fbeta')]

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    from build_docs import main
    out = tmp_path_factory.mktemp('site')
    pages = main(['--out', str(out)])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield out, pages, f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown()

@pytest.fixture(scope='module')
def browser():
    with launch() as b: yield b

def test_pages_cover_every_notebook(site):
    out, pages, _ = site
    assert 'index.html' in pages and 'core.html' in pages
    text = lambda p: re.sub(r'<[^>]+>', '', (out/p).read_text(encoding='utf-8'))  # what a reader sees
    index = text('index.html')
    assert 'make run' in index and 'make test' in index, 'the index page lost the quick start'
    assert 'Everything in' in text('core.html'), "core's introduction was dropped"
    nbs = [p for p in (ROOT/'nbs').rglob('*.ipynb')
           if not any(s.startswith(('_', '.')) for s in p.relative_to(ROOT/'nbs').parts)]
    assert len(pages) == len(nbs), f'{len(nbs)} notebooks but {len(pages)} pages: {pages}'
    assert not [p for p in (ROOT/'nbs'/'lessons').glob('*.ipynb') if not (out/'lessons'/f'{p.stem}.html').exists()]

@pytest.fixture(scope='module')
def walk(site, browser):
    "Every page visited once: its status, console errors, sidebar links, links in the text and images' natural sizes."
    out, pages, url = site
    page = browser.new_page()
    errors, seen = [], {}
    page.on('console', lambda m: errors.append((page.url, m.text)) if m.type == 'error' else None)
    page.on('pageerror', lambda e: errors.append((page.url, str(e))))
    for p in pages:
        r = page.goto(url + p)
        links = lambda sel: page.eval_on_selector_all(sel, 'els => els.map(e => e.href)')
        seen[p] = dict(status=r.status, sidebar=links('nav.sidebar a'), text_links=links('main a[href]'),
                       images=page.eval_on_selector_all('main img',
                                                        'els => els.map(e => [e.naturalWidth, e.naturalHeight])'))
    page.close()
    return seen, errors

def test_every_page_loads_without_console_errors(site, walk):
    out, pages, url = site
    seen, errors = walk
    assert [p for p in pages if seen[p]['status'] != 200] == []
    assert not [p for p in pages if len(seen[p]['sidebar']) < len(pages)], 'pages whose sidebar is missing links'
    assert not errors, errors

def test_sidebar_links_resolve(site, walk, browser):
    out, pages, url = site
    links = {}   # each distinct link once (every page has the same sidebar), with the first page that shows it
    for p in pages:
        for href in walk[0][p]['sidebar']: links.setdefault(href, p)
    ctx = browser.new_context()
    broken = [(p, href) for href, p in links.items() if ctx.request.get(href).status != 200]
    ctx.close()
    assert len(links) >= len(pages), f'{len(links)} distinct sidebar links for {len(pages)} pages'
    assert not broken, f'broken sidebar links (page, link): {broken}'

def test_internal_links_resolve(site, walk):
    out, pages, url = site
    bad = []
    for p in pages:
        for href in walk[0][p]['text_links']:
            if not href.startswith(url): continue
            target = href[len(url):].split('#')[0]
            if target and not (out/target).exists(): bad.append((p, href))
    assert not bad, f'links to pages that do not exist: {bad[:10]}'

@pytest.mark.parametrize('mod,name', API)
def test_api_entry_present(site, browser, mod, name):
    try: obj = importlib.import_module(mod)
    except ImportError: pytest.skip(f'{mod} does not exist yet')
    for part in name.split('.'):
        if not hasattr(obj, part): pytest.skip(f'{mod}.{name} does not exist yet')
        obj = getattr(obj, part)
    out, pages, url = site
    found = [p for p in pages if f'<h3 id="{name}"' in (out/p).read_text(encoding='utf-8')]
    assert found, f'no API entry for {name} on any page'
    page = browser.new_page()
    page.goto(url + found[0])
    assert page.locator(f'h3[id="{name}"]').is_visible()
    page.close()

def test_a_plot_renders_and_index_screenshot(site, walk, browser):
    out, pages, url = site
    sizes = [wh for p in pages for wh in walk[0][p]['images']]
    assert any(w > 0 and h > 0 for w, h in sizes), 'no plot image rendered on any page'
    page = browser.new_page(viewport={'width': 1280, 'height': 900})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.goto(url + 'index.html')
    page.screenshot(path=str(ARTIFACTS/'docs_index.png'))
    assert (ARTIFACTS/'docs_index.png').stat().st_size > 1000
    page.close()

def _questionnaire_pages(out) -> dict:
    "page -> how many questions it shows folded: the lesson kit's own page, and each lesson calling questionnaire."
    from l3.cli import LESSONS
    from l3.lesson import parse_questions
    pages = {'lesson.html': 2}     # nbs/11c_lesson shows a two-question demo
    for name in LESSONS:
        nb = json.loads((ROOT/'nbs'/'lessons'/f'{name}.ipynb').read_text(encoding='utf-8'))
        if any('questionnaire(' in ''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'code'):
            pages[f'lessons/{name}.html'] = len(parse_questions(ROOT/'nbs'/'lessons'/'questions'/f'{name}.md')[1])
    return pages

def test_questionnaires_render_folded(site, browser):
    "Each questionnaire is its list of questions, every answer in a closed <details>: hidden until clicked."
    out, pages, url = site
    page = browser.new_page()
    for p, n in _questionnaire_pages(out).items():
        page.goto(url + p)
        assert page.locator('.l3-questionnaire').count() == 1, f'{p}: no static questionnaire (its text/html part)'
        q = page.locator('.l3-questionnaire').first
        assert q.locator('ol > li').count() == n and q.locator('details').count() == n, p
        answer = q.locator('details').first.locator('p').first
        assert not answer.is_visible(), f'{p}: the first answer is not folded'
        q.locator('details summary').first.click()
        assert answer.is_visible() and re.search(r'Reread: \S', q.locator('details').first.inner_text()), p
    page.close()
