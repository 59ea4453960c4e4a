"""Installing l3 is quiet and complete (issue 30, item 7): the wheel setuptools builds from this checkout holds the
serve page (l3/static/serve/, a folder without __init__.py) and the build prints no warning, such as setuptools'
"Package 'l3.static.serve' is absent from the `packages` configuration" that `pip install -e .` used to show.
Built offline from a copy of the files a build reads, with this environment's setuptools (no build isolation).
"""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_wheel_builds_quietly_with_the_serve_page(tmp_path):
    src = tmp_path/'src'
    src.mkdir()
    for f in ('setup.py', 'settings.ini', 'pyproject.toml', 'README.md'): shutil.copy(ROOT/f, src/f)
    shutil.copytree(ROOT/'l3', src/'l3', ignore=shutil.ignore_patterns('__pycache__'))
    p = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index',
                        str(src), '-w', str(tmp_path/'dist')], capture_output=True, text=True, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert 'absent from the `packages`' not in out and 'Warning' not in out, out[-3000:]
    names = set(zipfile.ZipFile(next((tmp_path/'dist').glob('l3-*.whl'))).namelist())
    page = {f'l3/static/serve/{f}' for f in ('index.html', 'app.js', 'style.css')}
    assert page <= names, sorted(names)
    assert {f'l3/{p.name}' for p in (ROOT/'l3').glob('*.py')} <= names
    assert not any('__pycache__' in n for n in names)
