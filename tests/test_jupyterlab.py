"""A learner's journey in a real JupyterLab: open a lesson, run all cells, save, verify.

JupyterLab is started as `make lab` starts it (nbdev's pre-save hook, `--allow-root` when root) on 127.0.0.1 with
a token, serving a temporary git repository made from this one (tests/test_sync.py's `make_repo`), so the repo's
lesson is never saved over. Headless Chromium (tests/_browser.py) opens the universal-approximation lesson and
runs every cell; then: no error output, every widget view rendered, at least one plot; the save keeps the outputs
and cleans the metadata (nbdev's hook), `nbdev_test` passes on the saved notebook and tools/check_sync.sh passes
without touching it. Screenshot: _build/artifacts/jupyterlab_uat.png. Kernel and server are stopped, even on failure.
A second test answers a questionnaire (l3.lesson) there, wrong and right, and reads the feedback.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _browser import launch  # noqa: E402
from test_sync import BIN, LESSON, ROOT, digest, env, make_repo, sh  # noqa: E402

ARTIFACTS = ROOT/'_build'/'artifacts'
NB_API = LESSON.removeprefix('nbs/')                       # its path under the server's root (nbs/)
RUN_LIMIT, SERVER_LIMIT = 180, 60                          # seconds: all cells; the server and page start
PYTHONPATH = os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep)  # the kernel's l3: ours
pytestmark = pytest.mark.skipif(not (BIN/'jupyter-lab').exists(),
                                reason='JupyterLab is not installed (dev requirements)')

def lab_args() -> list[str]:
    "The options `make lab` gives JupyterLab (keep the two in step)."
    root = ['--allow-root'] if os.getuid() == 0 else []
    return ['--ContentsManager.pre_save_hook=nbdev.clean.clean_jupyter'] + root

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def _api(url, token, path, method='GET'):
    req = urllib.request.Request(f'{url}/api/{path}', method=method, headers={'Authorization': f'token {token}'})
    with urllib.request.urlopen(req, timeout=10) as r: body = r.read()
    return json.loads(body) if body else None

def _kernels(url, token) -> list[dict]:
    "The server's kernels; none while it cannot answer (a 500 can come while a kernel is starting)."
    try: return _api(url, token, 'kernels')
    except OSError: return []

def _settings(d: Path):
    "JupyterLab user settings for the test: every cell kept in the page (no windowing), no news or update checks."
    for name, value in {'notebook-extension/tracker': {'windowingMode': 'none'},
                        'apputils-extension/notification': {'fetchNews': 'false', 'checkForUpdates': False}}.items():
        f = d/'@jupyterlab'/f'{name}.jupyterlab-settings'
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(value))

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on a copy of the repo; yields (url, token, repo, server log); stops kernels and server after."
    questions = ROOT/'nbs'/'lessons'/'questions'       # the lesson's questionnaire reads its file from the repo
    if questions.is_dir(): shutil.copytree(questions, tmp_path/'repo'/'nbs'/'lessons'/'questions')
    repo = make_repo(tmp_path/'repo')
    _settings(tmp_path/'lab-settings')
    token, port = secrets.token_hex(16), _free_port()
    url, log = f'http://127.0.0.1:{port}', (tmp_path/'lab.log').open('w')
    e = {**env(), 'JUPYTERLAB_SETTINGS_DIR': str(tmp_path/'lab-settings'), 'JUPYTER_CONFIG_DIR': str(tmp_path/'cfg'),
         'JUPYTER_DATA_DIR': str(tmp_path/'data'), 'JUPYTER_RUNTIME_DIR': str(tmp_path/'rt'),
         'PYTHONPATH': PYTHONPATH}
    proc = subprocess.Popen([str(BIN/'jupyter-lab'), '--no-browser', '--ServerApp.ip=127.0.0.1',
                             f'--ServerApp.port={port}', '--ServerApp.port_retries=0',
                             f'--IdentityProvider.token={token}', *lab_args()],
                            cwd=repo/'nbs', env=e, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_LIMIT
        while True:
            try:
                _api(url, token, 'status')
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f'JupyterLab did not start:\n{(tmp_path/"lab.log").read_text()[-3000:]}')
                time.sleep(0.5)
        yield url, token, repo, tmp_path/'lab.log'
    finally:
        try:
            for k in _kernels(url, token): _api(url, token, f'kernels/{k["id"]}', 'DELETE')
        except OSError: pass
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try: os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError: pass
            proc.wait(5)
        log.close()

# What the page shows, read in one go: each code cell's prompt, widget views, images, error texts.
STATE_JS = '''() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const q = (s) => [...nb.querySelectorAll(s)];
  // a widget view: ipywidgets' renderer holds the view (class jupyter-widgets), or says it could not show it
  const bad = /Error displaying widget|Loading widget/;
  const views = q('.jp-OutputArea-output').filter(o => o.classList.contains('jupyter-widgets') ||
                  o.querySelector(':scope > .jupyter-widgets') || bad.test(o.textContent));
  const shown = (v) => [...v.querySelectorAll(':scope > .jupyter-widgets')].some(w => w.offsetHeight > 0);
  return {
    prompts: q('.jp-CodeCell .jp-InputArea-prompt').map(e => e.textContent.trim()),
    widgets: views.length,
    rendered: views.filter(v => !bad.test(v.textContent) && shown(v)).length,
    widget_errors: views.filter(v => bad.test(v.textContent)).map(v => v.textContent.slice(0, 200)),
    images: q('.jp-OutputArea-output img').filter(i => i.naturalWidth > 0 && i.naturalHeight > 0).length,
    // an error output is drawn as stderr holding the traceback
    errors: q('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').map(e => e.textContent)
              .filter(t => /Traceback|^\\w*(Error|Exception)\\b.*:/m.test(t)).map(t => t.slice(-500)),
    dirty: !!document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty'),
  };
}'''

def _wait(page, cond, limit, what, log, console=()):
    deadline, st = time.monotonic() + limit, None
    while time.monotonic() < deadline:
        st = page.evaluate(STATE_JS)
        if st and cond(st): return st
        page.wait_for_timeout(500)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS/'jupyterlab_uat_failed.png'))
    pytest.fail(f'{what} within {limit}s; the page: {st}\nbrowser console: {console[-20:]}\n'
                f'server log:\n{log.read_text()[-3000:]}')

def test_lesson_runs_saves_and_verifies_in_jupyterlab(lab):
    url, token, repo, log = lab
    nb_file, t0 = repo/LESSON, time.monotonic()
    with launch() as browser:
        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        console = []
        page.on('console', lambda m: console.append(f'{m.type}: {m.text}'[:300])
                if m.type in ('error', 'warning') else None)
        page.goto(f'{url}/lab/tree/{NB_API}?token={token}')
        idle = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]'
        deadline = time.monotonic() + SERVER_LIMIT                           # the kernel has started and is connected
        while not [k for k in _kernels(url, token) if k['connections'] and k['execution_state'] == 'idle']:
            if time.monotonic() > deadline: pytest.fail(f'no kernel started:\n{log.read_text()[-3000:]}')
            page.wait_for_timeout(500)
        page.wait_for_selector(idle, timeout=SERVER_LIMIT * 1000)
        page.click('.lm-MenuBar-itemLabel:text-is("Run")')                   # Run -> Run All Cells, as a learner does
        page.click('li.lm-Menu-item[data-command="runmenu:run-all"]')
        # queued cells show [*]; Run All has ended (done, or stopped at an error) when none is left and the kernel
        # is idle
        ended = lambda st: (page.locator(idle).count() == 1 and not any('*' in p for p in st['prompts'])
                            and any(p.strip('[]: ') for p in st['prompts']))
        st = _wait(page, ended, RUN_LIMIT, 'Run All Cells did not finish', log, console)
        ran_s = time.monotonic() - t0
        assert not st['errors'], f'error output(s) on the page: {st["errors"]}'
        assert all(p.strip('[]: ') for p in st['prompts']), f'Run All stopped before the end: {st["prompts"]}'
        st = _wait(page, lambda st: not st['widget_errors'], 30, 'the widgets did not load', log, console)
        assert st['widgets'] >= 1 and st['rendered'] == st['widgets'] and not st['widget_errors'], \
            f'a widget view did not render: {st}'
        assert st['images'] >= 1, f'no plot image on the page: {st}'
        page.locator('.jp-OutputArea-output > .jupyter-widgets').last.scroll_into_view_if_needed()   # the playground
        page.wait_for_timeout(500)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS/'jupyterlab_uat.png'))
        page.click('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook')      # focus the notebook, then save: Ctrl+S
        page.keyboard.press('Control+s')
        _wait(page, lambda st: not st['dirty'], 30, 'the notebook was not saved', log, console)
    saved = json.loads(nb_file.read_text(encoding='utf-8'))
    code = [c for c in saved['cells'] if c['cell_type'] == 'code']
    outs = [o for c in code for o in c['outputs']]
    assert not [o for o in outs if o['output_type'] == 'error'], 'the saved lesson holds an error output'
    assert any('image/png' in o.get('data', {}) for o in outs), 'the saved lesson lost its plots'
    n_views = sum('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in outs)
    assert n_views == st['widgets'], f'{n_views} widget views in the saved lesson, {st["widgets"]} on the page'
    # nbdev's pre-save hook (jupyter_hooks = True in settings.ini): outputs kept, execution counts and metadata cleaned
    # (cell metadata: only what settings.ini's allowed_cell_metadata_keys keeps, i.e. the runner's `parameters` tag)
    assert all(c['execution_count'] is None and set(c['metadata']) <= {'tags'} for c in code), \
        'nbdev_clean did not run on save'
    assert set(saved['metadata']) <= {'kernelspec', 'widgets'}, saved['metadata'].keys()
    assert 'Pre-save hook' not in log.read_text(), f'the pre-save hook failed:\n{log.read_text()[-3000:]}'
    # verify the saved lesson as `make test-lesson` and `make test` do: it passes and nothing rewrites it
    before, t1 = digest(repo), time.monotonic()
    r = sh(f'L3_OFFLINE=1 PYTHONPATH="{PYTHONPATH}" nbdev_test --path {LESSON}', repo, check=False)
    assert r.returncode == 0, f'nbdev_test failed on the saved lesson:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
    r = sh('bash tools/check_sync.sh', repo, check=False)
    assert r.returncode == 0 and '1 changed file(s)' in r.stdout, \
        f'the sync check failed on a saved lesson:\n{r.stdout}\n{r.stderr}'
    assert digest(repo) == before, 'verifying rewrote a file of the working copy'
    print(f'JupyterLab: opened and ran all cells in {ran_s:.0f}s; '
          f'verify of the saved lesson {time.monotonic() - t1:.0f}s; '
          f'{st["widgets"]} widget views, {st["images"]} images')

# --- the questionnaire, answered as a learner does ----------------------------------------------------------------

KIT_QUESTIONS = '''# Questionnaire: the lesson kit's own

## Why a sigmoid per tag and not one softmax over the tags?
section: Metrics with a threshold
- [ ] A sigmoid is cheaper to compute
- [x] The tags do not compete: one tile can be `clear` and `primary`
why: A softmax makes the scores add up to one, so raising one tag lowers the others.

## F2 is F-beta with beta = 2. How many times does recall count compared with precision?
section: Metrics with a threshold
answer: 2 | twice | two
why: beta says how many times recall counts; beta squared (4) is the number in the formula.
'''

def _questionnaire_notebook(repo: Path) -> tuple[str, list[dict]]:
    "A notebook calling questionnaire('planet') (the lesson's file, once on main; until then the kit's own file)."
    from l3.lesson import parse_questions
    qdir, planet = repo/'nbs'/'lessons'/'questions', ROOT/'nbs'/'lessons'/'questions'/'planet.md'
    name = 'planet' if planet.exists() else 'kit'
    qdir.mkdir(parents=True, exist_ok=True)
    (qdir/f'{name}.md').write_text(planet.read_text(encoding='utf-8') if planet.exists() else KIT_QUESTIONS)
    cell = {'cell_type': 'code', 'id': 'q', 'metadata': {}, 'outputs': [], 'execution_count': None,
            'source': f'from l3.lesson import questionnaire\nquestionnaire({name!r})'}
    nb = {'nbformat': 4, 'nbformat_minor': 5, 'cells': [cell],
          'metadata': {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}}}
    (repo/'nbs'/'questionnaire_check.ipynb').write_text(json.dumps(nb))
    return 'questionnaire_check.ipynb', parse_questions(qdir/f'{name}.md')[1]

def _check(box, want: str, page):
    "Press the question's Check button and wait for feedback containing `want`; the feedback's text."
    box.locator('button:has-text("Check")').click()
    feedback = box.locator('.l3-feedback')
    for _ in range(40):
        if want in feedback.inner_text(): break
        page.wait_for_timeout(250)
    return feedback.inner_text()

def test_questionnaire_answered_right_and_wrong_in_jupyterlab(lab):
    "A choice answered wrong then right, a short answer right: feedback says so, explains, and names the section."
    url, token, repo, log = lab
    nb_api, qs = _questionnaire_notebook(repo)
    with launch() as browser:
        page = browser.new_page(viewport={'width': 1200, 'height': 1000})
        console = []
        page.on('console', lambda m: console.append(f'{m.type}: {m.text}'[:300]) if m.type == 'error' else None)
        page.goto(f'{url}/lab/tree/{nb_api}?token={token}')
        deadline = time.monotonic() + SERVER_LIMIT     # a kernel started and connected to the page
        while not [k for k in _kernels(url, token) if k['connections'] and k['execution_state'] == 'idle']:
            select = page.locator('.jp-Dialog button:has-text("Select")')   # JupyterLab may ask which kernel: ours
            if select.count(): select.first.click()
            if time.monotonic() > deadline: pytest.fail(f'no kernel started:\n{log.read_text()[-3000:]}')
            page.wait_for_timeout(500)
        page.click('.lm-MenuBar-itemLabel:text-is("Run")')
        page.click('li.lm-Menu-item[data-command="runmenu:run-all"]')
        boxes = page.locator('.jp-OutputArea-output .l3-question')
        _wait(page, lambda st: boxes.count() > 0 or st['errors'] or st['widget_errors'], RUN_LIMIT,
              'the questionnaire did not show', log, console)
        assert boxes.count() == len(qs), f'{boxes.count()} question boxes for {len(qs)} questions; console: {console}'
        i = next(k for k, q in enumerate(qs) if q['choices'])
        q, box = qs[i], boxes.nth(i)
        wrong = next(k for k in range(len(q['choices'])) if k != q['right'][0])
        box.locator('.widget-radio-box label').nth(wrong).click()
        text = _check(box, 'Not quite', page)
        assert 'Not quite' in text and f"Reread: {q['section'].replace('`', '')}" in text, text
        box.locator('.widget-radio-box label').nth(q['right'][0]).click()
        text = _check(box, 'Right', page)
        assert 'Right' in text and q['why'].replace('`', '')[:40] in text, text
        k = next((k for k, q in enumerate(qs) if q['answers']), None)
        if k is not None:
            boxes.nth(k).locator('input[type="text"]').fill(f" {qs[k]['answers'][0].upper()}. ")
            assert 'Right' in _check(boxes.nth(k), 'Right', page)
            boxes.nth(k).locator('input[type="text"]').fill('certainly not this')
            assert 'Not quite' in _check(boxes.nth(k), 'Not quite', page)
        box.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS/'jupyterlab_questionnaire.png'))
        assert not console, f'browser console errors: {console}'
