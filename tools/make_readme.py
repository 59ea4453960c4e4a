"""Writes README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing quarto).

Markdown cells are copied; code cells are dropped unless they are not hidden, in which case they are shown as code.
Usage: python tools/make_readme.py [--check]   (--check exits 1 when README.md is out of date)
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text(encoding='utf-8'))
    out = ['<!-- WARNING: generated from nbs/index.ipynb by tools/make_readme.py; edit the notebook, not this file -->']
    for cell in nb['cells']:
        src = ''.join(cell['source']).strip()
        if not src: continue
        if cell['cell_type'] == 'markdown': out.append(src)
        elif cell['cell_type'] == 'code':
            hidden = any(line.strip().startswith(('#| hide', '#|hide')) for line in src.splitlines())
            if not hidden: out.append(f'```python\n{src}\n```')
    return '\n\n'.join(out) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text(encoding='utf-8') != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `python tools/make_readme.py`')
    else: readme.write_text(text, encoding='utf-8')
