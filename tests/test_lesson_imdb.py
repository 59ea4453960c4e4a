"""The IMDB lesson (nbs/lessons/imdb.ipynb): the facts about the library its cells used to assert, tested here on the
IMDB sample's stand-in (tokenizer, vocabulary, the two DataBunches, the language model's batches, the n-grams), and what
its run wrote (the lesson runs once per test session, see conftest.lesson_run): the generated text, the encoder, the
exported classifier."""
from collections import Counter
from pathlib import Path
import pandas as pd
import pytest
import torch
from l3.synth_text import synth
from l3.text import tokenize1, tokenize
from l3.text_data import TextList, TextDataBunch

REVIEW = ("This movie was <br /><br />Sooooo BAD!!! I didn't like it, you're wasting your time... "
          "It's very very very long &amp; the plot (if any) makes no sense. 2/10")      # the lesson's made-up review

@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    "The IMDB sample's stand-in (texts.csv) and its rows."
    path = synth('imdb_sample', tmp_path_factory.mktemp('imdb')/'data')
    return path, pd.read_csv(path/'texts.csv')

def test_sample_layout(sample):
    path, df = sample
    assert list(df.columns) == ['label', 'text', 'is_valid'] and len(df) >= 500

def test_tokenizer_on_the_lessons_review():
    toks = tokenize1(REVIEW)
    s = ' '.join(toks)
    for piece in ('xxbos xxmaj this', 'xxup bad', 's xxrep 5 o', 'xxrep 3 !', "did n't", "you 're", "it 's",
                  'xxwrep 3 very', '&', '( if any )', '2 / 10'):
        assert piece in s, piece
    assert '\n\n' in toks and toks == tokenize1(REVIEW)
    assert tokenize1(('Great title', 'The body'))[:4] == ['xxbos', 'xxfld', '1', 'xxmaj']

def test_from_csv_split_and_vocabulary(sample):
    "The quick way: a random 20% for validation; the vocabulary: specials first, then tokens seen twice; once: xxunk."
    path, df = sample
    data = TextDataBunch.from_csv(path, 'texts.csv', seed=42, bs=32)
    assert data.classes == sorted(df['label'].unique()) and len(data.valid_ds) == int(0.2 * len(df)) + 1
    x, _ = data.train_ds[0]
    assert data.vocab.itos[:8] == ['xxunk', 'xxpad', 'xxbos', 'xxfld', 'xxmaj', 'xxup', 'xxrep', 'xxwrep']
    assert x.dtype == torch.long and int(x[0]) == data.vocab.stoi['xxbos'] and len(data.vocab) <= 60000
    counts = Counter(t for d in tokenize(df['text'], progress=False) for t in d)
    assert all(counts[t] >= 2 for t in data.vocab.itos[8:])
    rare = next(t for t, c in counts.items() if c == 1)
    assert data.vocab.numericalize([rare]) == [0], rare

def test_data_block_split_from_is_valid(sample):
    path, df = sample
    data = TextList.from_csv(path, 'texts.csv', cols='text').split_from_df(col=2).label_from_df(cols=0).databunch(bs=32)
    assert len(data.valid_ds) == int(df['is_valid'].sum()) and len(data.train_ds) == len(df) - len(data.valid_ds)

@pytest.fixture(scope='module')
def data_lm(sample):
    path, _ = sample
    return (TextList.from_csv(path, 'texts.csv', cols='text', max_vocab=4000).split_by_rand_pct(0.1, seed=42)
            .label_for_lm().databunch(bs=32, device='cpu'))

def test_language_model_batches_are_shifted_by_one(data_lm):
    xb, yb = data_lm.one_batch()
    assert xb.shape[0] == 32 and (xb[:, 1:] == yb[:, :-1]).all() and len(data_lm.vocab) <= 4000

def test_classifier_data_shares_the_vocabulary_and_pads(sample, data_lm):
    path, _ = sample
    data_clas = (TextList.from_csv(path, 'texts.csv', cols='text', vocab=data_lm.vocab).split_from_df(col=2)
                 .label_from_df(cols=0).databunch(bs=16, device='cpu'))
    assert data_clas.vocab is data_lm.vocab and data_clas.c == 2
    xb, _ = data_clas.one_batch()
    assert (xb == data_lm.vocab.stoi['xxpad']).any()          # padding, at the start of the shorter reviews

def test_ngrams_explode(sample):
    "The lesson's San Francisco section: longer n-grams, more kinds, and a larger share seen once."
    docs = tokenize(sample[1]['text'], progress=False)
    grams = {n: Counter(tuple(d[i:i + n]) for d in docs for i in range(len(d) - n + 1)) for n in (1, 2, 3)}
    once = {n: sum(v == 1 for v in c.values()) / len(c) for n, c in grams.items()}
    assert len(grams[1]) < len(grams[2]) < len(grams[3]) and once[3] > once[1]

def test_run_wrote_text_encoder_and_classifier(lesson_run):
    "The generated sentences go on from the prompt; the encoder was saved; the export predicts as the lesson did."
    from l3.learner_export import load_learner
    rec = lesson_run('imdb')
    m, out = rec['metrics'], Path(rec['out'])
    assert len(m['generated']) == 2
    assert all(s.startswith('I liked this movie because ') and len(s.split()) > 20 for s in m['generated'])
    assert list(out.rglob('fine_tuned_enc.pth'))
    good = "I loved this film. The acting was brilliant. The music was wonderful. It's a true masterpiece, trust me."
    assert str(load_learner(out).predict(good)[0]) == m['hand_written'][0]
    assert m['failed_checks'] == [] and len(m['checks']) == 3
