"""The generator's keypoint error model: each of its parts does what it says, on walks made here."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from datasets_preprocess.synthetic.pose_error import (ESTIMATOR, PoseErrorModel, apply_pose_error,
                                                      covered_joints, parse_pose_error)


def walk(t=200):
    """A standing-still body 100 px tall with 17 visible joints, legs and arms apart."""
    base = np.zeros((17, 3), np.float32)
    base[:, 1] = np.linspace(0, 100, 17)
    base[:, 0] = np.where(np.arange(17) % 2 == 1, -10.0, 10.0)   # left joints left, right right
    base[:, 2] = 1.0
    return np.repeat(base[None], t, 0)


def test_specs():
    assert parse_pose_error("none").is_exact() and parse_pose_error("0").is_exact()
    assert parse_pose_error("0.055") == PoseErrorModel(jitter=0.055, iid=True)
    assert parse_pose_error("estimator") == ESTIMATOR
    assert parse_pose_error("estimator,swap_rate=0.2").swap_rate == 0.2
    for bad in ("estimator,nope=1", "estimator,swap_rate=2", "0.9", "gaussian"):
        with pytest.raises(ValueError):
            parse_pose_error(bad)


def test_exact_is_exact_and_draws_are_seeded():
    kp = walk()
    assert np.array_equal(apply_pose_error(kp, PoseErrorModel(), np.random.default_rng(0)), kp)
    a = apply_pose_error(kp, ESTIMATOR, np.random.default_rng(1))
    b = apply_pose_error(kp, ESTIMATOR, np.random.default_rng(1))
    assert np.array_equal(a, b) and not np.array_equal(a, kp)


def test_each_part_of_the_model():
    kp, rng = walk(400), np.random.default_rng(3)
    # bias: the same offset on every frame; drift: correlated from frame to frame; jitter: not.
    bias = apply_pose_error(kp, PoseErrorModel(bias=0.05), rng)[..., :2] - kp[..., :2]
    assert np.allclose(bias, bias[:1]) and bias.std() > 1.0
    drift = (apply_pose_error(kp, PoseErrorModel(drift=0.05, drift_corr=0.95), rng) - kp)[:, 0, 0]
    jitter = (apply_pose_error(kp, PoseErrorModel(jitter=0.05), rng) - kp)[:, 0, 0]
    lag = lambda x: np.corrcoef(x[:-1], x[1:])[0, 1]     # noqa: E731
    assert lag(drift) > 0.8 and abs(lag(jitter)) < 0.2
    # swaps: runs of frames where the left and right legs (or arms) trade places.
    swapped = apply_pose_error(kp, PoseErrorModel(swap_rate=0.05, swap_frames=5), rng)
    crossed = swapped[:, 11, 0] > 0                        # the left hip on the right side
    assert 0.05 < crossed.mean() < 0.5 and (crossed[1:] == crossed[:-1]).mean() > 0.8
    # coats: hips and knees err more and get lost; other joints not.
    coat = covered_joints(True, None)
    under = apply_pose_error(kp, PoseErrorModel(coat_error=0.1, coat_miss=0.3), rng, coat, view_deg=90)
    err = np.linalg.norm(under[..., :2] - kp[..., :2], axis=-1)
    assert err[:, 11:15].mean() > 5.0 and err[:, [0, 5, 15]].max() == 0.0
    assert 0.2 < (under[:, 11:15, 2] == 0).mean() < 0.4 and (under[:, :11, 2] > 0).all()
    def coat_error(view):     # over 30 sequences: most of the coat error is drawn per sequence
        model = PoseErrorModel(coat_error=0.1, frontal_gain=1.0)
        return np.mean([np.linalg.norm(apply_pose_error(kp[:20], model, rng, coat, view)[:, 11:15, :2]
                                       - kp[:20, 11:15, :2], axis=-1).mean() for _ in range(30)])
    assert 1.6 < coat_error(0) / coat_error(90) < 2.5       # 1 + |cos 0| = 2 at the front

    # a bag: its side's hip and wrist.
    assert np.flatnonzero(covered_joints(False, -1.0)[1]).tolist() == [10, 12]
    # outliers: far moves of single joints for a few frames.
    out = apply_pose_error(kp, PoseErrorModel(outlier_rate=0.01, outlier_error=0.3), rng)
    far = np.linalg.norm(out[..., :2] - kp[..., :2], axis=-1) > 10
    assert 0.01 < far.mean() < 0.1


def test_joints_outside_the_image_stay_unseen():
    kp = walk(50)
    kp[:, 16, 2] = 0.0
    out = apply_pose_error(kp, ESTIMATOR, np.random.default_rng(0))
    assert (out[:, 16] == kp[:, 16]).all()


def test_shared_bias_levels_are_shared_exactly_where_their_keys_agree():
    """bias_<level>: one offset per joint for every sequence with the same keys at that level
    (all; view; person; person and view; person, clothes and view), and none of it elsewhere."""
    from datasets_preprocess.synthetic.pose_error import SequenceKeys, shared_offsets
    kp = walk(3)
    height = float(np.ptp(kp[0, :, 1]))

    def offset(level, keys):
        model = PoseErrorModel(**{f"bias_{level}": 0.05})
        out = apply_pose_error(kp, model, np.random.default_rng(keys.subject * 7 + keys.view),
                               view_deg=keys.view, shared=shared_offsets(9, keys))
        return (out[0, :, :2] - kp[0, :, :2]) / height / 0.05          # the standard-normal draw
    base = SequenceKeys(subject=1, clothes=0, view=90)
    others = {"other person": SequenceKeys(2, 0, 90), "other view": SequenceKeys(1, 0, 72),
              "other clothes": SequenceKeys(1, 201, 90)}
    same_in = {"global": set(others), "view": {"other person", "other clothes"},
               "person": {"other view", "other clothes"},
               "person_view": {"other clothes"}, "clothes": set()}
    for level, shared_with in same_in.items():
        mine = offset(level, base)
        assert np.allclose(mine, offset(level, base), atol=1e-4)          # the same sequence keys
        assert 0.5 < mine.std() < 1.6                                       # a standard-normal draw
        for name, keys in others.items():
            assert np.allclose(offset(level, keys), mine, atol=1e-4) == (name in shared_with), (level, name)
    with pytest.raises(ValueError, match="needs the sequence's shared offsets"):
        apply_pose_error(kp, PoseErrorModel(bias_person=0.1), np.random.default_rng(0))


def test_the_error_redone_from_the_exact_keypoints_is_the_generators(tmp_path):
    """apply_keypoint_error.py with the generator's own model writes its poses/ byte for byte;
    with bias=0 only the constant offsets change; none gives the exact keypoints."""
    from conftest import run_script
    from gaitcore.pose_files import read_pose_json
    raw = tmp_path / "raw"
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", raw, "--subjects", "2",
               "--types", "nm-01,cl-01", "--views", "090", "--frames", "6", "--keypoint-noise", "estimator",
               "--workers", "1")
    run_script("datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
               "--keypoint-noise", "estimator", "--out", tmp_path / "same")
    names = sorted(p.name for p in (raw / "poses").glob("*.json"))
    assert len(names) == 4
    for name in names:
        assert (tmp_path / "same" / name).read_bytes() == (raw / "poses" / name).read_bytes()
    run_script("datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
               "--keypoint-noise", "none", "--out", tmp_path / "exact")
    for name in names:
        exact = read_pose_json(raw / "poses_exact" / name)[1]
        assert np.abs(read_pose_json(tmp_path / "exact" / name)[1] - exact).max() <= 0.005
    refused = run_script("datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
                         "--keypoint-noise", "estimator,bias=0", "--out", tmp_path / "same", check=False)
    assert refused.returncode == 2 and "made with --keypoint-noise estimator" in refused.stderr


def test_steady_reported_confidences():
    """conf_visible > 0: the model reports its own confidences -- conf_visible where the
    generator drew the joint visible (>= 0.8), conf_hidden where hidden (0.3-0.6), the
    generator's flicker smoothed away; joints outside the image keep 0."""
    kp = walk(60)
    rng = np.random.default_rng(5)
    kp[:, :, 2] = rng.uniform(0.8, 1.0, (60, 17))          # visible, flickering as the renderer's
    kp[30:, 3, 2] = rng.uniform(0.3, 0.6, 30)              # joint 3 hidden from frame 30 on
    kp[:, 16, 2] = 0.0                                     # outside the image
    steady = PoseErrorModel(conf_visible=0.9, conf_hidden=0.5)
    conf = apply_pose_error(kp, steady, np.random.default_rng(0))[..., 2]
    assert np.allclose(conf[:, :3], 0.9) and np.allclose(conf[:30, 3], 0.9) and np.allclose(conf[30:, 3], 0.5)
    assert (conf[:, 16] == 0).all()
    # smoothing with weight a on the neighbour, forwards then backwards: the step from 0.9 to
    # 0.5 at frame 30 becomes a ramp; by hand, one forward pass x_i = 0.4 x_i + 0.6 x_(i-1)
    # gives 0.9 - 0.4 * 0.4 = 0.74 at frame 30, and the backward pass then pulls frame 29 down.
    smooth = apply_pose_error(kp, replace(steady, conf_smooth=0.6), np.random.default_rng(0))[..., 2]
    forward = np.r_[np.full(30, 0.9), np.full(30, 0.5)]
    for i in range(1, 60):
        forward[i] = 0.4 * forward[i] + 0.6 * forward[i - 1]
    assert forward[30] == pytest.approx(0.74)
    backward = forward.copy()
    for i in range(58, -1, -1):
        backward[i] = 0.4 * backward[i] + 0.6 * backward[i + 1]
    assert np.allclose(smooth[:, 3], backward, atol=1e-6)
    assert 0.5 < smooth[29, 3] < 0.9 and np.abs(np.diff(smooth[:, 0])).max() < 1e-6
    # the generator's confidences flicker by 0.067 per frame on average, the steady model's
    # wobble (std 0.04, correlation 0.9) by much less
    wobbly = apply_pose_error(kp, replace(steady, conf_wobble=0.04), np.random.default_rng(0))[..., 2]
    change = np.abs(np.diff(wobbly[:, :3], axis=0)).mean()
    assert 0.005 < change < 0.03 < np.abs(np.diff(kp[:, :3, 2], axis=0)).mean()
    # estimator_v4 is a preset, and a confidence above 1 is refused
    assert parse_pose_error("estimator_v4").conf_visible == 0.9
    # estimator_v5 keeps v4's steady confidences and changes only the refitted parts
    v4, v5 = parse_pose_error("estimator_v4"), parse_pose_error("estimator_v5")
    changed = {f for f in ("jitter", "drift", "bias_global", "bias_view", "bias_person", "bias_clothes", "swap_rate",
                           "swap_frames", "coat_swap", "outlier_rate", "coat_error", "bag_error")
               if getattr(v4, f) != getattr(v5, f)}
    assert len(changed) == 12 and replace(v5, **{f: getattr(v4, f) for f in changed}) == v4
    with pytest.raises(ValueError):
        parse_pose_error("estimator_v4,conf_hidden=1.5")


def test_motion_shrinkage_keeps_the_stated_share_of_the_limbs_motion():
    """A knee rising and falling by +-10 px and an elbow swinging by +-8 px about fixed hips,
    in a body 100 px tall: with shrink_leg_y 0.75 the knee reports a quarter of its rise
    (+-2.5 px), with shrink_x 0.5 the elbow half of its swing (+-4 px); both keep their mean
    place, and joints that do not move (the hips, the head) are left where they are."""
    t = 40
    kp = walk(t)
    rise = 10.0 * np.sin(np.linspace(0, 4 * np.pi, t, endpoint=False))    # mean 0 over whole strides
    swing = 8.0 * np.cos(np.linspace(0, 4 * np.pi, t, endpoint=False))
    kp[:, 13, 1] += rise
    kp[:, 7, 0] += swing
    model = PoseErrorModel(shrink_x=0.5, shrink_leg_y=0.75)
    out = apply_pose_error(kp, model, np.random.default_rng(0))
    # the body height of a frame is the joints' y extent: 100 px unless the knee leaves it
    height = np.ptp(kp[..., 1], axis=1)
    assert np.allclose(height, 100.0)
    np.testing.assert_allclose(out[:, 13, 1], kp[0, 13, 1] - rise[0] + 0.25 * rise, atol=1e-4)
    np.testing.assert_allclose(out[:, 7, 0], walk(1)[0, 7, 0] + 0.5 * swing, atol=1e-4)
    np.testing.assert_allclose(out[:, [0, 11, 12], :], kp[:, [0, 11, 12], :], atol=1e-4)
    # the arms' vertical share is its own: with shrink_arm_y alone the knee keeps its whole rise
    arms_only = apply_pose_error(kp, PoseErrorModel(shrink_arm_y=0.9), np.random.default_rng(0))
    np.testing.assert_allclose(arms_only[:, 13, 1], kp[:, 13, 1], atol=1e-4)


def test_wander_is_a_quick_smooth_error_and_v6_differs_from_v5_only_where_it_says():
    kp = walk(4000)
    err = (apply_pose_error(kp, PoseErrorModel(wander=0.02, wander_corr=0.55), np.random.default_rng(5)) - kp)[:, 3, 0]
    err = err / 100.0                                              # body heights
    lag = lambda x, k: np.corrcoef(x[:-k], x[k:])[0, 1]           # noqa: E731
    # AR(1): correlation 0.55 at one frame, 0.55^2 = 0.30 at two; std 0.02 body heights
    assert lag(err, 1) == pytest.approx(0.55, abs=0.04) and lag(err, 2) == pytest.approx(0.3025, abs=0.05)
    assert err.std() == pytest.approx(0.02, rel=0.1)
    v5, v6 = parse_pose_error("estimator_v5"), parse_pose_error("estimator_v6")
    changed = {k for k in v5.__dataclass_fields__ if getattr(v5, k) != getattr(v6, k)}
    assert changed == {"jitter", "wander", "wander_corr", "shrink_x", "shrink_arm_y", "shrink_leg_y"}


def test_pull_towards_the_other_walkers_by_hand():
    """Walkers 2 and 3 stand in the same pose; walker 1's hips are 6 px wider (body 100 px tall).
    Its template (the 3 nearest frames of the others, same view) is their pose, so its departure
    is +-0.03 body heights at the hips and 0 elsewhere; theirs is 0 (each other's template).
    pull_hips 0.5 then reports walker 1's hips 1.5 px narrower each; without departures the model
    refuses; another view has its own templates."""
    from datasets_preprocess.synthetic.pose_error import template_departures
    base = walk(4)
    wide = base.copy()
    wide[:, 11, 0] -= 3.0
    wide[:, 12, 0] += 3.0
    sequences = {"a": wide, "b": base.copy(), "c": base.copy(), "d": base.copy()}
    walker = {"a": 1, "b": 2, "c": 3, "d": 1}
    view = {"a": 90, "b": 90, "c": 90, "d": 0}          # d: alone in its view, no template
    dep = template_departures(sequences, walker, view, neighbours=3)
    want = np.zeros((4, 17, 2))
    want[:, 11, 0], want[:, 12, 0] = -0.03, 0.03
    np.testing.assert_allclose(dep["a"], want, atol=1e-6)
    for name in "bcd":
        np.testing.assert_allclose(dep[name], 0.0, atol=1e-6)
    out = apply_pose_error(wide, PoseErrorModel(pull_hips=0.5), np.random.default_rng(0), departure=dep["a"])
    np.testing.assert_allclose(out[:, 11, 0], wide[:, 11, 0] + 1.5, atol=1e-4)
    np.testing.assert_allclose(out[:, 12, 0], wide[:, 12, 0] - 1.5, atol=1e-4)
    np.testing.assert_allclose(out[:, :11], wide[:, :11], atol=1e-4)
    with pytest.raises(ValueError, match="apply_keypoint_error"):
        apply_pose_error(wide, PoseErrorModel(pull_hips=0.5), np.random.default_rng(0))
    assert parse_pose_error("estimator_v7").needs_population() and not parse_pose_error("estimator_v6").needs_population()


def test_the_generator_refuses_a_model_that_needs_the_population(tmp_path):
    from conftest import run_script
    result = run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", tmp_path / "x",
                        "--subjects", "2", "--keypoint-noise", "estimator_v7", check=False)
    assert result.returncode == 2 and "apply_keypoint_error.py" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()


def test_apply_keypoint_error_pulls_hip_widths_together(tmp_path):
    """estimator_v7 through apply_keypoint_error.py, which reads the population for the
    templates: seen from the front, the hip width v7 reports differs from v6's (the same draws
    without the pull) by about -0.95 x how far the walker's own hip width departs from the
    others' -- a narrow walker is reported wider, a wide one narrower."""
    from conftest import run_script
    from gaitcore.pose_files import read_pose_json
    raw = tmp_path / "raw"
    run_script("datasets_preprocess/synthetic/make_synthetic_gait.py", "--out", raw, "--subjects", "4",
               "--types", "nm-01,nm-02", "--views", "000", "--frames", "12", "--keypoint-noise", "estimator_v5",
               "--workers", "1")
    widths = {}
    for spec in ("none", "estimator_v6", "estimator_v7"):
        run_script("datasets_preprocess/synthetic/apply_keypoint_error.py", "--src", raw,
                   "--keypoint-noise", spec, "--out", tmp_path / spec)
        per_walker = {}
        for path in sorted((tmp_path / spec).glob("???-*.json")):
            exact = read_pose_json(raw / "poses_exact" / path.name)[1]
            kp = read_pose_json(path)[1]
            height = np.median(np.ptp(exact[..., 1], axis=1))
            per_walker.setdefault(path.name[:3], []).append(np.mean(kp[:, 12, 0] - kp[:, 11, 0]) / height)
        widths[spec] = np.array([np.mean(v) for _, v in sorted(per_walker.items())])
    exact = widths["none"]
    departure = np.array([w - np.delete(exact, i).mean() for i, w in enumerate(exact)])
    change = widths["estimator_v7"] - widths["estimator_v6"]
    slope = float(np.sum(change * departure) / np.sum(departure ** 2))
    assert np.corrcoef(change, departure)[0, 1] < -0.9 and -1.2 < slope < -0.6
