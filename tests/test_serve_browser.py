"""l3 serve in a real browser: one uvicorn on 127.0.0.1 (a free port), the page driven by headless Chromium (Playwright,
the Debian chromium package, as tests/test_docs.py). Upload an image on the page, see the prediction drawn, mark it
wrong with the right answer, and find the row in SQLite. Screenshots: _build/artifacts/serve_mnist.png (bars),
serve_camvid.png (the mask over the image, legend, opacity slider), serve_head_pose.png (the point, a click as the
correction). The server is stopped at the end, also when a step fails.
"""
import sqlite3
from pathlib import Path
import pytest
from l3.serve import create_app, BackgroundServer
from _browser import launch
from _serve_models import build_models, sample_inputs

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT/'_build'/'artifacts'

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp('serve_browser')
    models = build_models(root/'runs', ('mnist', 'camvid', 'head_pose'))
    db = root/'fb.db'
    srv = BackgroundServer(create_app(models, db=db)).start()
    try: yield srv, db, root
    finally: srv.stop()

def feedback_rows(db):
    with sqlite3.connect(db) as c:
        return c.execute('SELECT p.model, f.correct, f.target FROM feedback f '
                         'JOIN predictions p ON p.id = f.prediction_id ORDER BY f.id').fetchall()

def test_page_upload_predict_correct(server):
    srv, db, root = server
    ins = sample_inputs()
    for n in ('mnist', 'camvid', 'head_pose'):
        (root/f'{n}.png').write_bytes(ins[n]) if n != 'head_pose' else (root/'head_pose.jpg').write_bytes(ins[n])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with launch() as browser:
        page = browser.new_page(viewport={'width': 1000, 'height': 700})
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.on('console', lambda m: m.type == 'error' and errors.append(m.text))
        page.goto(srv.url + '/')
        page.wait_for_selector('body[data-ready="1"]', timeout=30_000)
        # MNIST: the class probabilities as bars; "wrong, it is a 7"
        page.select_option('#model', 'mnist')
        page.set_input_files('#file', str(root/'mnist.png'))
        page.wait_for_selector('#result .bar', timeout=30_000)
        assert page.locator('#result .bar').count() == 2 and page.locator('#version').inner_text() == 'mnist v1'
        assert page.is_visible('#wrong') and page.is_hidden('#send-feedback')   # no correction asked for yet
        page.click('#wrong')
        assert page.is_visible('#send-feedback')
        page.select_option('#right-label', '7')
        page.click('#send-feedback')
        page.wait_for_selector('#thanks:has-text("recorded")', timeout=30_000)   # (no string eval: the CSP forbids it)
        page.screenshot(path=str(ARTIFACTS/'serve_mnist.png'), full_page=True)
        assert feedback_rows(db)[-1] == ('mnist', 0, '"7"')
        # CamVid: the mask over the image with its legend; "wrong: these classes"
        page.select_option('#model', 'camvid')
        page.set_input_files('#file', str(root/'camvid.png'))
        page.wait_for_selector('#canvas[data-drawn="mask"]', timeout=30_000)
        assert page.locator('.legend div').count() >= 1
        page.fill('#opacity', '0.8')
        page.click('#wrong')
        page.locator('#wrong-classes input').first.check()
        page.click('#send-feedback')
        page.wait_for_selector('#thanks:has-text("recorded")', timeout=30_000)   # (no string eval: the CSP forbids it)
        page.screenshot(path=str(ARTIFACTS/'serve_camvid.png'), full_page=True)
        model, correct, target = feedback_rows(db)[-1]
        assert (model, correct) == ('camvid', 0) and 'wrong_classes' in target
        # head pose: the point drawn on the image; the correction is a click on the image
        page.select_option('#model', 'head_pose')
        page.set_input_files('#file', str(root/'head_pose.jpg'))
        page.wait_for_selector('#canvas[data-drawn="points"]', timeout=30_000)
        page.click('#wrong')
        page.click('#canvas', position={'x': 5, 'y': 5})
        page.wait_for_selector('#clicked:has-text("The right point")', timeout=10_000)
        page.click('#send-feedback')
        page.wait_for_selector('#thanks:has-text("recorded")', timeout=30_000)   # (no string eval: the CSP forbids it)
        page.screenshot(path=str(ARTIFACTS/'serve_head_pose.png'), full_page=True)
        model, correct, target = feedback_rows(db)[-1]
        assert (model, correct) == ('head_pose', 0) and target.startswith('[[')
        assert not errors, errors
