"""Property tests of l3.augment: points follow their pixels, masks keep their ids, the dihedral group, determinism,
identities, and the bad-input errors. Small images and few examples: this runs on 2 shared CPU cores."""
import json
import pytest
import torch
from hypothesis import given, settings, assume, HealthCheck, strategies as st

from l3.augment import (IGNORE_ID, RESIZE_METHODS, DIHEDRAL, Flip, Dihedral, Rotate, Zoom, Warp, Brightness, Contrast,
                        resize_item, get_transforms, augment_batch, draw_params, apply_params, warp_batch,
                        perspective_grid, move_points, tfm_to_dict, tfm_from_dict, demo_item)
import l3.vision_data   # noqa: F401  registers the label classes that move with the pixels: 'mask', 'points'


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STRONG = [Dihedral(p=1.), Warp(0.4, p=1.), Rotate(45., p=1.), Zoom(2., p=1.)]   # every geometric kind, always on
seeds = st.integers(0, 2**31 - 1)

def gen(seed): return torch.Generator().manual_seed(seed)

def pix_to_norm(rc, hw):
    "Pixel centre (row, col) -> (row, col) in [-1, 1] (align_corners=False convention)."
    return torch.tensor([(2*rc[0] + 1)/hw[0] - 1, (2*rc[1] + 1)/hw[1] - 1])

# ---------------------------------------------------------------- points follow the pixels under them
@FAST
@given(seed=seeds, h=st.integers(24, 48), w=st.integers(24, 48), fr=st.floats(.15, .85), fc=st.floats(.15, .85))
def test_point_lands_where_its_pixel_went(seed, h, w, fr, fc):
    n = 16
    r, c = int(fr*h), int(fc*w)
    mask = torch.zeros(n, h, w, dtype=torch.long)
    mask[:, r-1:r+2, c-1:c+2] = 1                                  # a marked 3x3 block centred on pixel (r, c)
    pts = pix_to_norm((r, c), (h, w)).expand(n, 1, 2).contiguous()
    x = torch.rand(n, 3, h, w)
    params = draw_params(STRONG, n, h, w, gen(seed))
    _, m2 = apply_params(params, x, mask, 'mask')
    _, p2 = apply_params(params, x, pts, 'points')
    checked = 0
    for i in range(n):
        pr, pc = ((p2[i, 0] + 1)*torch.tensor([h, w])/2 - .5).tolist()   # point in output pixel units
        rows, cols = torch.nonzero(m2[i] == 1, as_tuple=True)
        if len(rows) == 0 or rows.min() == 0 or cols.min() == 0 or rows.max() == h - 1 or cols.max() == w - 1:
            continue                                               # the block (partly) left the frame
        d = ((rows.float().mean() - pr)**2 + (cols.float().mean() - pc)**2).sqrt()
        assert d <= 1.5, f'sample {i}: point at {(pr, pc)} but its pixel went to {(rows.float().mean(), cols.float().mean())}'
        checked += 1
    assume(checked > 0)

@FAST
@given(seed=seeds, h=st.integers(8, 64), w=st.integers(8, 64))
def test_points_move_through_the_exact_inverse(seed, h, w):
    "The grid looks up, at the output position of a point, exactly the input position of that point."
    n = 8
    params = draw_params(STRONG, n, h, w, gen(seed))
    pts = torch.rand(n, 5, 2, generator=gen(seed + 1))*2 - 1
    out = move_points(pts, params['mat'])
    xy1 = torch.stack([out[..., 1], out[..., 0], torch.ones_like(out[..., 0])], -1).double()
    back = xy1 @ params['mat'].transpose(1, 2)
    back = torch.stack([back[..., 1]/back[..., 2], back[..., 0]/back[..., 2]], -1)
    assert torch.allclose(back.float(), pts, atol=1e-4)

def test_point_and_grid_agree_pixelwise():
    "perspective_grid at a pixel equals the inverse map of move_points, for the projective (warp) case too."
    h, w = 20, 30
    params = draw_params([Warp(0.4, p=1.), Rotate(30, p=1.)], 4, h, w, gen(0))
    assert (params['mat'][:, 2, :2] != 0).any()
    grid = perspective_grid(params['mat'].float(), h, w)            # n x h x w x (x, y)
    src = torch.stack([grid[:, 7, 11, 1], grid[:, 7, 11, 0]], -1)[:, None]   # (row, col) each output pixel (7, 11) reads
    moved = move_points(src, params['mat'])[:, 0]
    assert torch.allclose(moved, pix_to_norm((7, 11), (h, w)).expand(4, 2), atol=1e-5)

# ---------------------------------------------------------------- masks
@FAST
@given(seed=seeds, h=st.integers(4, 40), w=st.integers(4, 40), k=st.integers(1, 40), flip_vert=st.booleans())
def test_masks_keep_their_ids(seed, h, w, k, flip_vert):
    g = gen(seed)
    ids = torch.randperm(200, generator=g)[:k]                      # arbitrary ids, not 0..k-1
    mask = ids[torch.randint(k, (6, h, w), generator=g)]
    tfms = get_transforms(flip_vert=flip_vert, max_rotate=45, max_zoom=2., max_warp=0.4, p_affine=1., p_lighting=1.)[0]
    for dtype in (torch.long, torch.uint8, torch.int32):
        m = mask.to(dtype)
        x, m2 = augment_batch(tfms, torch.rand(6, 3, h, w, generator=g), m, 'mask', generator=gen(seed))
        assert m2.dtype == dtype and m2.shape == m.shape
        assert set(m2.unique().tolist()) <= set(m.unique().tolist()) | {IGNORE_ID}
        assert x.shape == (6, 3, h, w) and 0 <= x.min() and x.max() <= 1

def test_outside_becomes_ignore_not_class_0():
    mask = torch.ones(1, 32, 32, dtype=torch.long)                 # no 0 anywhere
    params = dict(mat=torch.tensor([[[1., 0, .6], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64),  # shift right
                  scale=torch.ones(1), shift=torch.zeros(1))
    _, m2 = apply_params(params, torch.rand(1, 3, 32, 32), mask, 'mask')
    assert 0 not in m2 and IGNORE_ID in m2 and (m2[0, :, :5] == 1).all() and (m2[0, :, -5:] == IGNORE_ID).all()

@FAST
@given(seed=seeds, method=st.sampled_from(RESIZE_METHODS), train=st.booleans(),
       size=st.one_of(st.integers(8, 48), st.tuples(st.integers(8, 48), st.integers(8, 48))))
def test_resize_item_moves_mask_and_point_together(seed, method, train, size):
    torch.manual_seed(seed)
    img, mask, pt = demo_item(40, 56)
    i2, m2, p2 = resize_item(img, size, method, mask, pt, train=train)
    hw = (size, size) if isinstance(size, int) else size
    assert i2.shape == (3, *hw) and i2.dtype == torch.uint8 and m2.shape == hw and m2.dtype == torch.long
    assert set(m2.unique().tolist()) <= {0, 1, 2, 3} | ({IGNORE_ID} if method == 'pad' else set())
    assert p2.abs().max() <= 1                                       # crops keep the point in view
    r, c = ((p2[0] + 1)/2*torch.tensor(hw)).long().clamp(max=torch.tensor(hw) - 1).tolist()
    near = m2[max(r-1, 0):r+2, max(c-1, 0):c+2]                       # the disc, within a pixel of rounding
    assert (near == 2).any()

# ---------------------------------------------------------------- the 8 dihedral symmetries
def _dihedral(x, k):
    return warp_batch(x, DIHEDRAL[k:k+1].expand(len(x), 3, 3))[0]

def test_dihedral_distinct_and_a_group():
    img, _, _ = demo_item(32, 32)
    x = img[None].float()/255
    outs = [_dihedral(x, k) for k in range(8)]
    for i in range(8):
        for j in range(i + 1, 8): assert not torch.allclose(outs[i], outs[j], atol=1e-3), (i, j)
    for i in range(8):
        for j in range(8):
            both = _dihedral(outs[j], i)                               # j then i
            assert sum(torch.allclose(both, outs[k], atol=1e-5) for k in range(8)) == 1    # closed
        assert any(torch.allclose(_dihedral(outs[i], j), x, atol=1e-5) for j in range(8))  # inverse in the set
    keys = {tuple(m.flatten().tolist()) for m in DIHEDRAL}
    assert len(keys) == 8 and all(tuple((a @ b).flatten().tolist()) in keys for a in DIHEDRAL for b in DIHEDRAL)

def test_flip_vert_draws_all_8():
    p = draw_params(get_transforms(flip_vert=True)[0][:1], 400, 16, 16, gen(0))
    seen = {tuple(m.flatten().tolist()) for m in p['mat']}
    assert len(seen) == 8

@FAST
@given(seed=seeds, k=st.integers(0, 7))
def test_flip_twice_is_identity(seed, k):
    x = torch.rand(3, 3, 16, 16, generator=gen(seed))
    mask = torch.randint(5, (3, 16, 16), generator=gen(seed))
    y, m = augment_batch([Flip(p=1.), Flip(p=1.)], x, mask, 'mask')
    assert torch.allclose(y, x, atol=1e-5) and torch.equal(m, mask)
    once, mo = augment_batch([Flip(p=1.)], x, mask, 'mask')
    twice, mt = augment_batch([Flip(p=1.)], once, mo, 'mask')
    assert torch.allclose(once, x.flip(-1), atol=1e-5) and torch.allclose(twice, x, atol=1e-5) and torch.equal(mt, mask)
    inv = [j for j in range(8) if torch.equal(DIHEDRAL[j] @ DIHEDRAL[k], DIHEDRAL[0])][0]
    assert torch.allclose(_dihedral(_dihedral(x, k), inv), x, atol=1e-5)

# ---------------------------------------------------------------- determinism and identities
@FAST
@given(seed=seeds, method=st.sampled_from(RESIZE_METHODS))
def test_valid_is_deterministic(seed, method):
    torch.manual_seed(seed)
    img, mask, pt = demo_item(30, 50)
    a, b = resize_item(img, 24, method, mask, pt), resize_item(img, 24, method, mask, pt)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    _, valid = get_transforms(flip_vert=True)
    x = torch.rand(4, 3, 24, 24)
    x1, m1 = augment_batch(valid, x, a[1][None].expand(4, -1, -1), 'mask')
    assert torch.equal(x1, x) and torch.equal(m1, a[1][None].expand(4, -1, -1))
    train, _ = get_transforms()
    r1 = augment_batch(train, x, generator=gen(seed))[0]
    r2 = augment_batch(train, x, generator=gen(seed))[0]
    assert torch.equal(r1, r2)                                    # and a seeded training draw repeats

@FAST
@given(seed=seeds, method=st.sampled_from(RESIZE_METHODS), size=st.integers(8, 40))
def test_zero_magnitudes_give_a_pure_resize(seed, method, size):
    img, mask, pt = demo_item(30, 50)
    i2, m2, p2 = resize_item(img, size, method, mask, pt)
    x, m, p = i2[None].float()/255, m2[None], p2[None]
    none = get_transforms(do_flip=False, max_rotate=0., max_zoom=1., max_warp=0., max_lighting=0.)[0]
    assert none == []
    explicit = [Warp(0., p=1.), Rotate(0., p=1.), Zoom(1., p=1.), Brightness(0., p=1.), Contrast(0., p=1.)]
    for tfms in (none, explicit):
        xa, ma = augment_batch(tfms, x, m, 'mask', generator=gen(seed))
        _, pa = augment_batch(tfms, x, p, 'points', generator=gen(seed))
        assert torch.allclose(xa, x, atol=1e-5) and torch.equal(ma, m) and torch.allclose(pa, p, atol=1e-6)

def test_lighting_never_touches_targets():
    x, mask = torch.rand(8, 3, 12, 12), torch.randint(4, (8, 12, 12))
    pts = torch.rand(8, 2, 2)*2 - 1
    light = [Brightness(0.5, p=1.), Contrast(0.5, p=1.)]
    x2, m2 = augment_batch(light, x, mask, 'mask')
    assert not torch.allclose(x2, x) and torch.equal(m2, mask)
    assert torch.equal(augment_batch(light, x, pts, 'points')[1], pts)

def test_records_round_trip_json():
    tr, va = get_transforms(flip_vert=True, max_warp=0.3)
    assert [tfm_from_dict(json.loads(json.dumps(tfm_to_dict(t)))) for t in tr] == tr and va == []

# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize('size', [0, -4, (10, 0), (0, 10), 2.5, 'big'])
def test_bad_size(size):
    img, _, _ = demo_item(20, 20)
    with pytest.raises(ValueError, match='size'): resize_item(img, size)

def test_bad_method_mask_points():
    img, mask, pt = demo_item(20, 30)
    with pytest.raises(ValueError, match="'bilinear'"): resize_item(img, 10, 'bilinear')
    with pytest.raises(ValueError, match=r'\(20, 29\)'): resize_item(img, 10, mask=mask[:, :29])
    with pytest.raises(ValueError, match='1.2'): resize_item(img, 10, points=torch.tensor([[0., 1.2]]))
    with pytest.raises(ValueError, match='-3.0'): resize_item(img, 10, points=torch.tensor([[-3., 0.]]))
    x = torch.rand(2, 3, 20, 30)
    tr = get_transforms()[0]
    with pytest.raises(ValueError, match=r'\(2, 20, 29\)'): augment_batch(tr, x, mask[None, :, :29].expand(2, -1, -1), 'mask')
    with pytest.raises(ValueError, match='1.5'): augment_batch(tr, x, torch.tensor([[[0., 1.5]], [[0., 0.]]]), 'points')
    with pytest.raises(TypeError, match='float'): augment_batch(tr, (x*255).byte())
    with pytest.raises(ValueError, match='0.5'): Zoom(0.5)
    with pytest.raises(ValueError, match='1.5'): Rotate(10, p=1.5)

# ---------------------------------------------------------------- the benchmark's smoke run
def test_bench_quick(capsys):
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location('bench_augment', Path(__file__).resolve().parents[1]/'bench'/'augment.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    res = mod.main(['--quick'])
    assert res['cpu']['l3'] > 0
    out = capsys.readouterr().out
    assert 'images/s' in out and ('ratio l3/fastai' in out or 'fastai not installed' in out)


def test_target_names_resolve_once_to_label_classes():
    "A label class, its name (as `label_cls=` takes it) or a label object moves a target alike; a bad one says what to pass."
    from l3.labels import CategoryLabel
    from l3.vision_data import MaskLabel, PointsLabel
    x, m, tr = torch.rand(2, 3, 16, 16), torch.randint(0, 3, (2, 16, 16)), [Flip(p=1.)]
    for t in ('mask', MaskLabel, MaskLabel(['a', 'b', 'c'])): assert torch.equal(augment_batch(tr, x, m, t)[1], m.flip(-1))
    p = torch.tensor([[[0., -.5]], [[.2, .5]]])
    for t in ('points', PointsLabel): assert torch.allclose(augment_batch(tr, x, p, t)[1], p*torch.tensor([1., -1.]))
    y = torch.arange(2)
    for t in ('category', CategoryLabel): assert augment_batch(tr, x, y, t)[1] is y      # targets that do not move stay
    with pytest.raises(TypeError, match='does not say how it moves'): augment_batch(tr, x, m, 42)
    with pytest.raises(ValueError, match='unknown label_cls'): augment_batch(tr, x, m, 'no_such_kind')
