"""Converts a percent-format script (`# %%` code cells, `# %% [markdown]` prose cells) into a clean notebook.

A convenience for authoring: the .ipynb it writes is the source of truth and is what gets committed.
Usage: python tools/pct2nb.py SRC.py DEST.ipynb
"""
import sys, jupytext

def convert(src, dest):
    nb = jupytext.read(src, fmt='py:percent')
    nb.metadata = {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}}
    for c in nb.cells: c.metadata = {}
    jupytext.write(nb, dest, fmt='ipynb')

if __name__ == '__main__': convert(sys.argv[1], sys.argv[2])
