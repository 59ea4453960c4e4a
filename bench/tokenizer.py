"""Tokenizer benchmark: l3's plain-Python tokenizer against fastai 2.8's `Tokenizer` (spaCy), same texts, same run.

Prints tokens/s of each (one process each, fastest of 3 passes) and their ratio (target >= 5x), and how well the two token sequences
agree: the share of fastai's tokens matched by l3's after aligning the two sequences of each text with difflib
(target >= 99%), with the most frequent differences.

Texts: the IMDB-sample stand-in of l3.synth (templated reviews), reviews generated here with many of the oddities of
real IMDB text (HTML breaks, entities, quotes, brackets, contractions, ratings, URLs, ellipses, caps, stretched
words...), and real English prose (the docstrings of Python's standard library).

l3 marks repetitions from 3 characters/words on, as fastai 2 does (the lesson's fastai v1 started at 4). Agreement
is given for l3's defaults and, for reference, for `min_rep=4, min_wrep=4` (fastai v1's thresholds); the differences
listed are those of the defaults. The main remaining one is on purpose: fastai (v1 and 2) replaces `amp;` and `quot;`
before unescaping HTML, so `&amp;` becomes `& &` and `&quot;` becomes `& '`; l3 gives `&` and `"`.

Usage: python bench/tokenizer.py [--quick] [--l3-only] [--top K]
fastai runs in /work/main/.venv-bench (or any python where `import fastai` works): when it is missing here, the script
calls that environment for the fastai side; without it, only l3's figures are printed ("fastai not installed").
"""
import argparse, difflib, json, os, random, subprocess, sys, time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_PY = ROOT/'.venv-bench'/'bin'/'python'

# ---------------------------------------------------------------- texts
_FIRST = ['I', 'This movie', 'The film', 'Honestly, this', 'My wife and I', 'The director', 'Everyone', 'The plot']
_VERBS = ["didn't like", "couldn't stand", 'loved', 'hated', "can't recommend", "won't forget", 'enjoyed',
          "wouldn't watch", "haven't seen", 'really liked', 'was bored by']
_OBJ = ['the acting', "the director's cut", 'the ending', 'the so-called "twist"', 'this (very) long movie',
        'the soundtrack', "Spielberg's latest", 'the first 20 minutes', 'the special effects', 'the DVD extras']
_TAILS = ['.', '!', '!!', '?!', '...', '!!!!', ' :)', '. 2/10', ' - 8/10.', ', to be honest.', '; really.',
          ' (seriously).', '. Worst. Movie. Ever.', ' IMHO.', ', e.g. the car chase.', ' at 3pm.', '...what a waste']
_EXTRA = ["It's a well-known fact that they're not good at this.", "You'll see what I mean.", "We've all been there.",
          'Check www.imdb.com/title/tt0012345 for more.', 'It cost $10 and lasted 2h30.', "I'm SO disappointed!!!",
          'The U.S. version is 90min long &amp; the UK one is longer.', 'This is sooooo bad, very very very very bad.',
          "Isn't it the best film of 1999? No no no no no.", 'He said: &quot;never again&quot;.', 'Rated PG-13 #fail',
          "Mr. Smith's performance was... meh.", 'A must-see!!!', "Don't waste your time/money.", 'The end.<br />',
          "I'd give it 0 stars if I could.", 'It was OK, not great - just OK.', 'Gonna watch it again? Nope.',
          "Their 'best' work, according to critics.", 'Jean-Claude Van Damme at his finest [sic].', 'A 10/10 from me :-)',
          "It's (sort of) like Star Wars meets Titanic.", 'the effects were cheap & the plot was thin.', "ANYONE?? No?"]

def generated_reviews(n, seed=0):
    "IMDB-like reviews with many of the oddities of the real ones."
    rng, out = random.Random(seed), []
    for _ in range(n):
        sents = []
        for _ in range(rng.randint(3, 9)):
            if rng.random() < 0.5: s = rng.choice(_EXTRA)
            else: s = f'{rng.choice(_FIRST)} {rng.choice(_VERBS)} {rng.choice(_OBJ)}{rng.choice(_TAILS)}'
            sents.append(s)
        seps = [rng.choice([' ', ' ', ' ', '<br /><br />', ' <br /><br />', '<br /><br /> ']) for _ in sents]
        out.append(''.join(s + p for s, p in zip(sents, seps)).strip())
    return out

def synth_reviews(n):
    "The short templated reviews of l3.synth_text (when that module exists)."
    try: from l3.synth_text import imdb_review
    except ImportError: return []
    import numpy as np
    rng = np.random.default_rng(0)
    return [imdb_review(['pos', 'neg'][i % 2], rng) for i in range(n)]

def prose(n):
    "Real English: docstrings of the standard library, one text per module/function docstring."
    import pydoc, pkgutil, importlib, inspect
    out = []
    for name in ['argparse', 'collections', 'json', 'pathlib', 'subprocess', 'typing', 'unittest', 'logging', 'shutil',
                 'random', 'statistics', 'textwrap', 'difflib', 'inspect', 'tarfile', 'zipfile', 'datetime', 'enum',
                 'functools', 'itertools', 'threading', 'asyncio', 'email', 'http.client', 'urllib.request', 'csv']:
        try: mod = importlib.import_module(name)
        except Exception: continue
        for obj in [mod, *[getattr(mod, a, None) for a in dir(mod) if not a.startswith('_')]]:
            d = inspect.getdoc(obj) if obj is not None else None
            if d and len(d) > 80 and d not in out: out.append(d)
            if len(out) >= n: return out
    return out

def corpora(quick):
    n = 30 if quick else 1000
    c = {'imdb_sample stand-in': synth_reviews(n), 'generated IMDB-like': generated_reviews(n),
         'stdlib docstrings': prose(30 if quick else 600)}
    return {k: v for k, v in c.items() if v}

# ---------------------------------------------------------------- the two tokenizers
REPEATS = 3   # each side tokenizes the texts this many times and keeps its fastest pass (the machine may be shared);
              # l3's token cache is emptied before each pass, spaCy keeps its lexeme cache: that favours fastai

def l3_tokenize(texts, repeats=REPEATS, **kw):
    from l3.text import tokenize, _cache
    best = float('inf')
    for _ in range(repeats):
        _cache.clear()   # a cold cache each pass: the cache is built while tokenizing, its cost is part of the time
        t0 = time.perf_counter(); toks = tokenize(texts, n_workers=1, progress=False, **kw)
        best = min(best, time.perf_counter() - t0)
    return toks, best

def fastai_tokenize(texts, repeats=REPEATS):
    from fastai.text.core import SpacyTokenizer, TokenizeWithRules
    tok = TokenizeWithRules(SpacyTokenizer('en'))
    list(tok(['warm up.']))
    best = float('inf')
    for _ in range(repeats):
        t0 = time.perf_counter(); toks = [list(map(str, o)) for o in tok(texts)]
        best = min(best, time.perf_counter() - t0)
    return toks, best

def fastai_available():
    try: import fastai.text.core  # noqa
    except ImportError: return None
    return 'here'

def run_fastai(texts):
    "fastai's tokens and time: in this python when fastai imports, else in .venv-bench, else None."
    if fastai_available(): return fastai_tokenize(texts)
    if not BENCH_PY.exists(): return None
    r = subprocess.run([str(BENCH_PY), __file__, '--fastai-worker'], input=json.dumps(texts), capture_output=True,
                       text=True)
    if r.returncode != 0:
        if 'ModuleNotFoundError' in r.stderr: return None
        raise RuntimeError(f'fastai side failed in {BENCH_PY}:\n{r.stderr[-2000:]}')
    out = json.loads(r.stdout)
    return out['toks'], out['secs']

# ---------------------------------------------------------------- agreement
def agreement(ours, theirs):
    "Share of `theirs` tokens matched by `ours` after alignment, and a Counter of the differing pieces."
    matched = total = 0; diffs = Counter()
    for a, b in zip(ours, theirs):
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        matched += sum(m.size for m in sm.get_matching_blocks()); total += len(b)
        for op, i1, i2, j1, j2 in sm.get_opcodes():
            if op != 'equal': diffs[(' '.join(a[i1:i2]), ' '.join(b[j1:j2]))] += 1
    return matched / max(total, 1), diffs

def show(s): return repr(s)[1:-1] if s else '∅'

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='a few texts: smoke run')
    ap.add_argument('--fastai-worker', action='store_true', help=argparse.SUPPRESS)
    ap.add_argument('--top', type=int, default=8, help='differences listed per corpus')
    ap.add_argument('--l3-only', action='store_true', help='skip the fastai side')
    args = ap.parse_args()
    if args.fastai_worker:
        toks, secs = fastai_tokenize(json.loads(sys.stdin.read()))
        print(json.dumps({'toks': toks, 'secs': secs})); return
    os.environ.setdefault('L3_QUIET', '1')
    cs = corpora(args.quick)
    all_texts = [t for v in cs.values() for t in v]
    print(f'{len(all_texts)} texts ({", ".join(f"{k}: {len(v)}" for k, v in cs.items())}), one process each')
    l3_toks, l3_s = l3_tokenize(all_texts)
    n_tok = sum(map(len, l3_toks))
    print(f'l3      : {n_tok:>9,} tokens in {l3_s:6.2f}s = {n_tok / l3_s:>10,.0f} tokens/s')
    fa = None if args.l3_only else run_fastai(all_texts)
    if fa is None:
        print('fastai not installed (create .venv-bench with fastai to compare): l3 figures only'); return
    fa_toks, fa_s = fa
    n_fa = sum(map(len, fa_toks))
    print(f'fastai  : {n_fa:>9,} tokens in {fa_s:6.2f}s = {n_fa / fa_s:>10,.0f} tokens/s')
    print(f'speed   : l3 / fastai = {(n_tok / l3_s) / (n_fa / fa_s):.1f}x (target >= 5x)')
    l3_v1, _ = l3_tokenize(all_texts, repeats=1, min_rep=4, min_wrep=4)
    start = 0
    for name, texts in cs.items():
        sl = slice(start, start + len(texts)); start += len(texts)
        acc, diffs = agreement(l3_toks[sl], fa_toks[sl])
        acc4, _ = agreement(l3_v1[sl], fa_toks[sl])
        print(f'\nagreement on {name}: {acc:.2%} with l3 defaults (target >= 99%); {acc4:.2%} with min_rep=4, '
              f'min_wrep=4 (fastai v1)')
        for (a, b), c in diffs.most_common(args.top):
            print(f'  {c:5d}x  l3: {show(a):30.30s} fastai: {show(b):30.30s}')
    acc_all, diffs_all = agreement(l3_toks, fa_toks); acc4_all, _ = agreement(l3_v1, fa_toks)
    print(f'\noverall agreement: {acc_all:.2%} (defaults; target >= 99%), {acc4_all:.2%} (fastai v1 repeat thresholds)')
    print('main differences overall:')
    for (a, b), c in diffs_all.most_common(args.top):
        print(f'  {c:5d}x  l3: {show(a):30.30s} fastai: {show(b):30.30s}')

if __name__ == '__main__': main()
