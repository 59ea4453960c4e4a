"""l3 serve in a real browser: one uvicorn on 127.0.0.1 (a free port), the page driven by headless Chromium (Playwright,
the Debian chromium package, as tests/test_docs.py). Upload an image on the page, see the prediction drawn, mark it
wrong with the right answer, and find the row in SQLite. Screenshots: _build/artifacts/serve_mnist.png (bars),
serve_camvid.png (the mask over the image, legend, opacity slider), serve_head_pose.png (the point, a click as the
correction). A phone photo (12 megapixels, over the 8 MiB limit, turned by its EXIF orientation) goes through the
page downsized and upright, and the answer on screen goes as soon as it is chosen. The server is stopped at the end,
also when a step fails.
"""
import io
import json
import sqlite3
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
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

def phone_photo(path: Path) -> int:
    """A 12-megapixel JPEG as a phone writes it (4032x3024 noise, EXIF orientation 6: turn it a quarter right to show
    it), with a red block at the sensor's top left, which is the top right once upright; its size in bytes."""
    px = np.random.default_rng(0).integers(0, 256, (3024, 4032, 3), dtype=np.uint8)
    px[:800, :1000] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(px).save(path, 'JPEG', quality=90, exif=exif.tobytes())
    return path.stat().st_size

def test_phone_photo_sent_small_and_upright_old_answer_cleared(server):
    srv, db, root = server
    (root/'head_pose.jpg').write_bytes(sample_inputs()['head_pose'])
    photo = root/'phone.jpg'
    size = phone_photo(photo)
    assert size > 8 * 2**20                                   # over the server's limit as it is
    with launch() as browser:
        page = browser.new_page(viewport={'width': 1000, 'height': 700})
        errors = []
        page.on('pageerror', lambda e: errors.append(str(e)))
        page.goto(srv.url + '/')
        page.wait_for_selector('body[data-ready="1"]', timeout=30_000)
        assert '8 MiB' in page.inner_text('#limits')
        page.select_option('#model', 'head_pose')
        page.set_input_files('#file', str(root/'head_pose.jpg'))          # an answer on screen
        page.wait_for_selector('#canvas[data-drawn="points"]', timeout=30_000)
        held = []                                             # the photo's request, held until the page is checked
        page.route('**/api/models/*/predict', lambda route: held.append(route))
        page.set_input_files('#file', str(photo))
        for _ in range(600):
            if held: break
            page.wait_for_timeout(100)
        assert held, 'the page sent no prediction request'
        assert page.is_hidden('#output') and page.locator('#result > *').count() == 0   # the old answer went at once
        body = held[0].request.post_data_buffer
        held[0].continue_()
        page.wait_for_selector('#canvas[data-drawn="points"]', timeout=60_000)
        sent = Image.open(io.BytesIO(body[body.index(b'\xff\xd8\xff'):]))
        print(f'phone photo {size / 2**20:.1f} MiB {Image.open(photo).size} -> request {len(body) / 2**20:.2f} MiB, '
              f'JPEG {sent.size}')
        assert len(body) < 1.5 * 2**20 and sent.size == (768, 1024)          # small, longest side 1024, portrait
        r, g, b = sent.convert('RGB').getpixel((740, 100))                   # the block: top right once upright
        assert r > 200 and g < 60 and b < 60, (r, g, b)
        assert (page.get_attribute('#canvas', 'width'), page.get_attribute('#canvas', 'height')) == ('768', '1024')
        with sqlite3.connect(db) as c:
            meta = c.execute('SELECT meta FROM predictions ORDER BY created DESC LIMIT 1').fetchone()[0]
        assert json.loads(meta) == {'width': 768, 'height': 1024}
        assert not errors, errors
